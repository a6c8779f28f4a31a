"""The node broker's local socket: a private 0600 socket, one request and one reply, the
broker's errors arriving as the same kind, and a missing broker told apart (the caller
then connects to the node itself)."""

from __future__ import annotations

import shutil
import stat
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from labcloud.backends.broker_link import BrokerAbsent, Listener, call

from labcloud.errors import Unavailable


@pytest.fixture
def sock_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="lcbk-"))  # short: unix socket paths are limited
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _handler(op: str, args: dict[str, object]) -> object:
    if op == "domain_states":
        return [{"uuid": "u1", "state": "shutoff", "node": args["node"]}]
    raise Unavailable("node node1 does not answer", "is it up?")


def test_a_command_asks_the_broker_and_gets_its_answer_or_its_error(sock_dir: Path) -> None:
    listener = Listener(sock_dir / "broker.sock", _handler)
    threading.Thread(target=listener.serve_forever, daemon=True).start()
    try:
        assert stat.S_IMODE((sock_dir / "broker.sock").stat().st_mode) == 0o600
        got = call(sock_dir / "broker.sock", "domain_states", {"node": "node1"})
        assert got == [{"uuid": "u1", "state": "shutoff", "node": "node1"}]
        with pytest.raises(Unavailable) as err:
            call(sock_dir / "broker.sock", "probe", {})
        assert err.value.one_line() == "node node1 does not answer (is it up?)"
    finally:
        listener.close()
    assert not (sock_dir / "broker.sock").exists()


def test_no_broker_is_told_apart_from_a_node_error(sock_dir: Path) -> None:
    with pytest.raises(BrokerAbsent):
        call(sock_dir / "broker.sock", "domain_states", {"node": "node1"})
