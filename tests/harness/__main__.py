"""`python -m tests.harness shell|run -- CMD...`: a throwaway isolated node.

shell: an interactive bash inside a fresh node; leaving it stops the node.
run:   one command inside a fresh node; exits with the command's status.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from types import FrameType

from tests.harness.node import Node, NodeError, start_node


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.harness", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    shell = sub.add_parser("shell", help="interactive bash in a fresh isolated node")
    shell.add_argument("--name", default="shell", help="node name (default: shell)")
    run = sub.add_parser("run", help="run one command in a fresh isolated node")
    run.add_argument("--name", default="run", help="node name (default: run)")
    run.add_argument("cmd", nargs=argparse.REMAINDER, help="-- CMD [ARG...]")
    args = parser.parse_args(argv)
    if args.command == "run":
        if args.cmd[:1] == ["--"]:
            args.cmd = args.cmd[1:]
        if not args.cmd:
            parser.error("run needs a command: run -- CMD [ARG...]")
    return args


def _terminate(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # unwinds to the finally that stops the node


def _run_inside(node: Node, argv: list[str], extra_env: dict[str, str] | None = None) -> int:
    # The child owns the terminal: Ctrl-C is for it, not for us.
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        return subprocess.call(node.nsenter(argv), env=node.env(extra_env))
    finally:
        signal.signal(signal.SIGINT, old)


def main(argv: list[str] | None = None) -> int:
    args = _parse(sys.argv[1:] if argv is None else argv)
    if os.geteuid() != 0:
        print("tests.harness: must run as root (it creates namespaces)", file=sys.stderr)
        return 2
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _terminate)
    try:
        node = start_node(args.name)
    except NodeError as exc:
        print(f"tests.harness: {exc}", file=sys.stderr)
        return 1
    try:
        if args.command == "run":
            return _run_inside(node, args.cmd)
        print(
            f"labcloud harness: node {node.name!r} in {node.workdir} (holder pid {node.pid}): "
            "isolated network and mount namespaces, own libvirtd; LABCLOUD_LAB="
            f"{node.lab_file}. Exit the shell to stop it.",
            flush=True,
        )
        prompt = f"(lc-node:{node.name}) \\w\\$ "
        return _run_inside(node, ["bash", "--norc", "-i"], {"PS1": prompt})
    finally:
        node.stop()


if __name__ == "__main__":
    sys.exit(main())
