"""The host agent on a remote node: the very same LocalAgent code, shipped over SSH.

One exec channel per node runs python3 with a small bootstrap. It reads a zip of the
agent's modules (host_agent and what it imports, nftables for security groups, plus
pycdlib for cloud-init seeds) from
stdin, imports them from that zip, then answers one JSON request per line. Nothing is
installed on the node: it needs python3 and the system tools (qemu-img) only.

Files go to a node with copy_file: streamed over their own channel, hashed on the node,
and renamed into place only when the sha256 matches (a cache: a present file is kept).
"""

from __future__ import annotations

import base64
import importlib
import io
import json
import threading
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from labcloud.backends import (
    cloud_init_seed,
    host_agent,
    image_pipe,
    image_store,
    kvm_probe,
    nftables,
)
from labcloud.backends.ssh_session import SshSession

import labcloud
from labcloud import errors
from labcloud.errors import BackendError, LabError

# Runs on the node. argv: state_dir. stdin: "<zip size>\n", the zip, then requests.
BOOTSTRAP = """\
import json, os, sys, tempfile
inp = sys.stdin.buffer
size = int(inp.readline())
fd, bundle = tempfile.mkstemp(prefix="labcloud-agent-", suffix=".zip")
with os.fdopen(fd, "wb") as f:
    while size:
        chunk = inp.read(min(size, 1 << 20))
        size -= len(chunk)
        f.write(chunk)
sys.path.insert(0, bundle)
from labcloud.backends.host_agent import LocalAgent
from labcloud.errors import LabError
from pathlib import Path
from typing import Any
agent = LocalAgent(Path(sys.argv[1]))
out = sys.stdout
out.write("ready\\n"); out.flush()
try:
    for line in inp:
        req = json.loads(line)
        try:
            reply = {"result": getattr(agent, req["method"])(*req["args"])}
        except LabError as exc:
            reply = {"error": [type(exc).__name__, exc.message, exc.hint]}
        except Exception as exc:
            reply = {"error": ["BackendError", f"{type(exc).__name__}: {exc}", None]}
        out.write(json.dumps(reply) + "\\n"); out.flush()
finally:
    os.unlink(bundle)
"""

# Runs on the node. argv: dest, sha256. stdin: the file. Prints "ok" once it is in place.
RECEIVE = """\
import hashlib, os, sys, tempfile
dest, want = sys.argv[1], sys.argv[2]
os.makedirs(os.path.dirname(dest), exist_ok=True)
fd, tmp = tempfile.mkstemp(dir=os.path.dirname(dest), prefix=".copy-")
digest = hashlib.sha256()
with os.fdopen(fd, "wb") as f:
    while chunk := sys.stdin.buffer.read(1 << 20):
        digest.update(chunk)
        f.write(chunk)
    f.flush(); os.fsync(f.fileno())
if digest.hexdigest() != want:
    os.unlink(tmp)
    sys.exit(f"checksum mismatch: got {digest.hexdigest()}, expected {want}")
os.chmod(tmp, 0o644)
os.replace(tmp, dest)
print("ok")
"""

# What a remote caller may run: the agent's plain-data methods (no progress callbacks).
METHODS = frozenset(
    {
        "virt_type",
        "image_info",
        "create_overlay",
        "create_blank",
        "make_dir",
        "remove_tree",
        "remove_file",
        "list_dir",
        "exists",
        "digest_files",
        "tail",
        "write_seed_b64",
        "apply_filter",
        "snapshot_disk",
        "set_link_up",
    }
)
_CHUNK = 1 << 20
_bundle: bytes | None = None


def bundle() -> bytes:
    """A zip of the agent's modules, laid out as packages (built once per process)."""
    global _bundle
    if _bundle is None:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            z.write(labcloud.__file__, "labcloud/__init__.py")
            z.write(errors.__file__, "labcloud/errors.py")
            backends = Path(host_agent.__file__).parent
            z.write(backends / "__init__.py", "labcloud/backends/__init__.py")
            shipped = (host_agent, kvm_probe, cloud_init_seed, nftables, image_store, image_pipe)
            for module in shipped:
                z.write(str(module.__file__), f"labcloud/backends/{Path(module.__file__).name}")
            pycdlib = Path(str(importlib.import_module("pycdlib").__file__)).parent
            for f in sorted(pycdlib.rglob("*.py")):
                z.write(f, f"pycdlib/{f.relative_to(pycdlib)}")
        _bundle = buf.getvalue()
    return _bundle


class RemoteAgent:
    """A NodeAgent whose calls run on the node (see services/interfaces.py)."""

    def __init__(self, session: SshSession, state_dir: str) -> None:
        self.session = session
        self.state_dir = state_dir
        self._channel = None
        self._reader: io.BufferedReader | None = None
        self._lock = threading.Lock()

    def _start(self) -> None:
        channel = self.session.exec(["python3", "-c", BOOTSTRAP, self.state_dir])
        data = bundle()
        channel.sendall(f"{len(data)}\n".encode() + data)
        reader = channel.makefile("rb")
        if reader.readline().strip() != b"ready":
            err = channel.recv_stderr(4096).decode(errors="replace").strip()
            channel.close()
            raise BackendError(f"node {self.session.target.name}: the agent did not start: {err}")
        self._channel, self._reader = channel, reader

    def _call(self, method: str, *args: object) -> object:
        with self._lock:
            if self._channel is None or self._channel.closed:
                self._start()
            assert self._channel is not None and self._reader is not None
            try:
                self._channel.sendall(json.dumps({"method": method, "args": args}).encode() + b"\n")
                line = self._reader.readline()
            except OSError as exc:
                self._channel = None
                raise BackendError(f"node {self.session.target.name}: agent lost: {exc}") from None
            if not line:
                self._channel = None
                raise BackendError(f"node {self.session.target.name}: the agent exited")
        reply = json.loads(line)
        if "error" in reply:
            kind, message, hint = reply["error"]
            cls = getattr(errors, kind, BackendError)
            if not (isinstance(cls, type) and issubclass(cls, LabError)):
                cls = BackendError
            raise cls(f"node {self.session.target.name}: {message}", hint)
        return reply["result"]

    # Any: the result is whatever the NodeAgent protocol says that method returns.
    def __getattr__(self, method: str) -> Callable[..., Any]:
        if method not in METHODS:
            raise AttributeError(method)
        return lambda *args: self._call(method, *args)

    def write_seed(self, path: str, files: dict[str, bytes]) -> None:
        # JSON carries no bytes: the node decodes them again (LocalAgent.write_seed_b64).
        encoded = {name: base64.b64encode(data).decode() for name, data in files.items()}
        self._call("write_seed_b64", path, encoded)

    def copy_file(
        self,
        src: str,
        dest: str,
        sha256: str,
        progress: Callable[[int, int], None] | None = None,
    ) -> bool:
        """Put a file on the node unless it is there already. True when it was copied."""
        if self._call("exists", dest):
            return False
        total = Path(src).stat().st_size
        channel = self.session.exec(["python3", "-c", RECEIVE, dest, sha256])
        sent = 0
        try:
            with open(src, "rb") as f:
                while chunk := f.read(_CHUNK):
                    channel.sendall(chunk)
                    sent += len(chunk)
                    if progress is not None:
                        progress(sent, total)
            channel.shutdown_write()
            status = channel.recv_exit_status()
            err = channel.recv_stderr(4096).decode(errors="replace").strip()
        finally:
            channel.close()
        if status != 0:
            raise BackendError(
                f"node {self.session.target.name}: copy of {Path(src).name} failed: {err}"
            )
        return True
