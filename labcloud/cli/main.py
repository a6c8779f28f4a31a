"""`labcloud`: the headless entry point. It never imports Textual unless the TUI is asked for."""

from __future__ import annotations

import json
import sys
import traceback
from typing import Any

from labcloud import __version__
from labcloud.cli import waiting
from labcloud.cli.output import FORMATS, Record, Table, render, select_columns
from labcloud.cli.registry import COMMANDS, Parser, commands_under, match
from labcloud.errors import EXIT_CODES, LabError, UsageError

# Global options, accepted before the command words and after them.
_VALUE_OPTS = {"-f", "--format", "-c", "--column", "--lab", "--project"}
_FLAG_OPTS = {"--debug", "--all-projects"}


def _add_global_options(p: Parser) -> None:
    g = p.add_argument_group("global options")
    g.add_argument("-f", "--format", choices=FORMATS, default="table", help="output format")
    g.add_argument(
        "-c", "--column", action="append", default=[], help="show only this column (repeatable)"
    )
    g.add_argument(
        "--lab", help="lab file (default: $LABCLOUD_LAB, ./lab.toml, /etc/labcloud/lab.toml)"
    )
    g.add_argument(
        "--project",
        help="project to act in (default: $LABCLOUD_PROJECT or the lab's default_project)",
    )
    g.add_argument(
        "--all-projects",
        action="store_true",
        help="lists span every project (cloud admins only)",
    )
    g.add_argument("--debug", action="store_true", help="show tracebacks")


def _split_globals(argv: list[str]) -> tuple[list[str], list[str]]:
    """Leading global options, and the rest (command words first)."""
    lead: list[str] = []
    i = 0
    while i < len(argv) and argv[i].startswith("-") and argv[i] not in ("-h", "--help"):
        opt = argv[i].split("=", 1)[0]
        if opt in _VALUE_OPTS and "=" not in argv[i]:
            lead += argv[i : i + 2]
            i += 2
        elif opt in _VALUE_OPTS or opt in _FLAG_OPTS:
            lead.append(argv[i])
            i += 1
        else:
            break
    return lead, argv[i:]


def _top_help(prefix: tuple[str, ...] = ()) -> str:
    cmds = commands_under(prefix)
    width = max((len(c.name) for c in cmds), default=10)
    lines = [
        "usage: labcloud [global options] COMMAND [args]",
        "",
        "labcloud: a small OpenStack for a lab. With no command on a terminal it shows the lab.",
        "",
        "commands:",
        *(f"  {c.name.ljust(width)}  {c.help}" for c in cmds),
        "",
        "global options: -f table|json|yaml|csv|value, -c COLUMN, --lab FILE, --project P, "
        "--all-projects, --debug, --version",
        "example: labcloud server create web1 --image tiny --flavor m1.tiny --wait",
        "exit codes: 0 ok, "
        + ", ".join(f"{n} {code}" for code, n in sorted(EXIT_CODES.items(), key=lambda i: i[1]))
        + ", 130 interrupted",
        "`labcloud COMMAND --help` explains one command.",
    ]
    return "\n".join(lines)


def _opens_tui(lead: list[str]) -> bool:
    output_asked = any(o.split("=", 1)[0] in ("-f", "--format", "-c", "--column") for o in lead)
    return not output_asked and sys.stdin.isatty() and sys.stdout.isatty()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    debug = "--debug" in argv
    fmt = "table"
    try:
        import labcloud.cli.commands  # noqa: F401 - registers every command

        if argv[:1] == ["--version"]:
            print(f"labcloud {__version__}")
            return 0
        lead, rest = _split_globals(argv)
        if rest[:1] in (["-h"], ["--help"], ["help"]):
            print(_top_help())
            return 0
        cmd, n = match(rest)
        if cmd is None:
            words = tuple(w for w in rest if not w.startswith("-"))
            if not words:
                # On a terminal, `labcloud` alone opens the TUI; piped or with -f/-c, the status.
                cmd, n = COMMANDS[("tui",) if _opens_tui(lead) else ("status",)], 0
            elif commands_under(words[:1]) and len(words) <= 1:
                print(_top_help(words[:1]))
                return 0 if "-h" in rest or "--help" in rest else 2
            else:
                raise UsageError(
                    f"unknown command {' '.join(words[:3])!r}",
                    "`labcloud --help` lists the commands",
                )
        parser = Parser(
            prog=f"labcloud {cmd.name}".strip(),
            description=cmd.help,
            epilog=f"example: {cmd.example}",
        )
        _add_global_options(parser)
        for a in (*cmd.args, *waiting.extra_args(cmd)):
            parser.add_argument(*a.flags, **a.kwargs)
        args = parser.parse_args(lead + rest[n:])
        fmt = args.format
        limit = args.timeout if waiting.owns_timeout(cmd) else None
        with waiting.deadline(limit, f"labcloud {cmd.name}"):
            result = _run(cmd, args)
        if isinstance(result, Table | Record):
            print(render(select_columns(result, args.column), args.format))
        elif isinstance(result, str) and result:
            sys.stdout.write(result if result.endswith("\n") else result + "\n")
        return 0
    except LabError as exc:
        return _fail(exc.code, exc.one_line(), exc.exit_code, fmt, debug)
    except KeyboardInterrupt:
        return _fail("interrupted", "interrupted", 130, fmt, debug)
    except BrokenPipeError:
        return 0
    except Exception as exc:  # a bug: still one line, unless --debug
        return _fail(
            "internal",
            f"internal error: {type(exc).__name__}: {exc} (rerun with --debug for details)",
            1,
            fmt,
            debug,
        )


def _run(cmd: Any, args: Any) -> Any:
    if not cmd.needs_lab:
        return cmd.run(None, args)
    from labcloud.lab import Lab

    lab = Lab.open(args.lab, args.project, all_projects=args.all_projects)
    return cmd.run(lab, args)


def _fail(code: str, message: str, exit_code: int, fmt: str, debug: bool) -> int:
    if debug:
        traceback.print_exc()
    if fmt == "json":
        print(
            json.dumps({"error": {"code": code, "message": message, "exit_code": exit_code}}),
            file=sys.stderr,
        )
    else:
        print(f"labcloud: {message}", file=sys.stderr)
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
