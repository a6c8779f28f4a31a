"""An isolated lab node: a holder process in new network and mount namespaces.

The holder (this file run as a script, via `unshare --net --mount`) mounts a fresh
sysfs and private directories over /run, /etc/libvirt, /var/lib/libvirt,
/var/log/libvirt and /var/cache/libvirt, brings `lo` up and starts the node's own
virtlogd and libvirtd. Everything else enters the node with
`nsenter --target <holder pid> --net --mount`.

Nothing here touches the host's network namespace, and stop() signals only
processes that live in the node's namespaces (found through /proc/PID/ns), through
pidfds so a recycled PID is never hit.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# sys.executable's directory, not resolved: the venv's bin, where `labcloud` lives.
VENV_BIN = Path(sys.executable).parent
LABCLOUD_BIN = VENV_BIN / "labcloud"
LIBVIRTD = shutil.which("libvirtd", path="/usr/sbin:/usr/bin") or "/usr/sbin/libvirtd"
VIRTLOGD = shutil.which("virtlogd", path="/usr/sbin:/usr/bin") or "/usr/sbin/virtlogd"
URI = "qemu:///system"

# libvirtd probes every qemu binary at start (~4 s here); a probe result shared
# between nodes makes a start take a fraction of a second. libvirt checks each
# entry against the binaries and kernel, so a stale one is only re-probed.
CAPS_CACHE = Path(tempfile.gettempdir()) / "lc-harness-cache" / "qemu-capabilities"

# Set to keep a node's workdir (its daemons' logs) after stop, for debugging.
KEEP_ENV = "LC_HARNESS_KEEP"
TMP_PREFIX = "lc-harness-"

NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,30}$")
START_TIMEOUT = 60.0

# Host-side directory (under the node's workdir) -> where it is mounted in the node.
BINDS: dict[str, str] = {
    "run": "/run",
    "etc-libvirt": "/etc/libvirt",
    "var-lib-libvirt": "/var/lib/libvirt",
    "var-log-libvirt": "/var/log/libvirt",
    "var-cache-libvirt": "/var/cache/libvirt",
}
SUBDIRS = (
    "run/libvirt",
    "run/lock",
    "etc-libvirt/qemu/networks/autostart",
    "etc-libvirt/qemu/autostart",
    "var-lib-libvirt/qemu",
    "var-lib-libvirt/images",
    "var-lib-libvirt/dnsmasq",
    "var-log-libvirt/qemu",
    "var-cache-libvirt/qemu",
    "state",
)

# qemu runs as root on files in /tmp: no chown, no relabelling. No cgroups: the
# node's sysfs is fresh (no cgroup mounts), and machine cgroups in the host's
# hierarchy would collide between nodes. No per-guest mount namespace: /dev
# handling there adds nothing inside a node.
QEMU_CONF = """\
user = "root"
group = "root"
dynamic_ownership = 0
remember_owner = 0
security_driver = "none"
cgroup_controllers = [ ]
namespaces = [ ]
"""
# Only root uses the node's sockets; polkit (needs D-Bus) is not there.
LIBVIRTD_CONF = """\
unix_sock_group = "root"
unix_sock_ro_perms = "0777"
unix_sock_rw_perms = "0770"
auth_unix_ro = "none"
auth_unix_rw = "none"
log_outputs = "3:file:/var/log/libvirt/libvirtd.log"
"""
VIRTLOGD_CONF = """\
log_outputs = "3:file:/var/log/libvirt/virtlogd.log"
"""
# Copied from the host's /etc/libvirt; the rest (qemu/, the daemons' configs) is ours.
COPIED_ETC = ("libvirt.conf", "libvirt-admin.conf", "nwfilter")

MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_BIND = 2, 4, 8, 4096
PR_SET_CHILD_SUBREAPER = 36


class NodeError(RuntimeError):
    """A node could not be started."""


class NodeCommandError(AssertionError):
    """A command run in a node failed; the message carries argv, rc and output."""


def _ns_id(pid: int | str, kind: str) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/{kind}")
    except OSError:
        return None


def _members(netns: set[str], mntns: set[str]) -> set[int]:
    """PIDs living in any of the given namespaces, plus all their descendants.

    Every such namespace was created by us, so whatever is in it is the node's.
    Descendants cover programs that moved into a namespace the node made
    (`ip netns exec` inside the node).
    """
    found: set[int] = set()
    children: dict[int, list[int]] = {}
    me = os.getpid()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        if pid == me:
            continue
        if _ns_id(pid, "net") in netns or _ns_id(pid, "mnt") in mntns:
            found.add(pid)
        try:
            with open(f"/proc/{pid}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(pid)
    todo = list(found)
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found and child != me:
                found.add(child)
                todo.append(child)
    return found


def _signal_all(pids: set[int], check: set[str] | None, grace: float) -> None:
    """SIGTERM `pids`, wait up to `grace` seconds, then SIGKILL what is left.

    With `check` (namespace ids), a PID is only signalled if, once pinned by a
    pidfd, it still lives in one of them: a PID recycled since the scan is spared.
    """
    fds: dict[int, int] = {}
    for pid in pids:
        try:
            fd = os.pidfd_open(pid)
        except OSError:
            continue
        if check is not None and not (
            {_ns_id(pid, "net"), _ns_id(pid, "mnt")} & check or _has_ancestor_in(pid, pids)
        ):
            os.close(fd)
            continue
        fds[pid] = fd
    try:
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
            for pid, fd in list(fds.items()):
                try:
                    signal.pidfd_send_signal(fd, sig)
                except ProcessLookupError:
                    os.close(fds.pop(pid))
            deadline = time.monotonic() + wait
            while fds and time.monotonic() < deadline:
                poller = select.poll()
                for fd in fds.values():
                    poller.register(fd, select.POLLIN)
                # A pidfd turns readable when its process has exited.
                for fd, _ in poller.poll(100):
                    pid = next(p for p, f in fds.items() if f == fd)
                    os.close(fds.pop(pid))
            if not fds:
                return
    finally:
        for fd in fds.values():
            os.close(fd)


def _has_ancestor_in(pid: int, pids: set[int]) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            ppid = int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return False
    return ppid in pids


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _copy_files(src: Path, dst: Path) -> None:
    """Copy the files of src into dst, each atomically: nodes may share dst."""
    try:
        files = [f for f in src.iterdir() if f.is_file()]
    except OSError:
        return
    dst.mkdir(parents=True, exist_ok=True)
    for f in files:
        fd, tmp = tempfile.mkstemp(dir=dst, prefix=f".{f.name}.")
        os.close(fd)
        shutil.copyfile(f, tmp)
        os.replace(tmp, dst / f.name)


def _mounts_under(path: Path) -> list[str]:
    """Mount points below `path` in the caller's mount namespace."""
    prefix = str(path).rstrip("/") + "/"
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    return [p for p in points if p == str(path) or p.startswith(prefix)]


class Node:
    """One isolated node. Made by start_node(); stop() it when done."""

    def __init__(self, name: str, workdir: Path, base_owned: Path | None) -> None:
        self.name = name
        self.workdir = workdir
        self.state_dir = workdir / "state"
        self.lab_file = workdir / "lab.toml"
        self.pid = 0
        self.netns = ""
        self.mntns = ""
        self._base_owned = base_owned
        self._holder: subprocess.Popen[bytes] | None = None
        self._stopped = False

    def __repr__(self) -> str:
        return f"Node({self.name!r}, pid={self.pid}, workdir={str(self.workdir)!r})"

    @property
    def libvirtd_pid(self) -> int | None:
        """The node's libvirtd, from its pidfile in the private /run."""
        return _read_pid(self.workdir / "run" / "libvirtd.pid")

    @property
    def virtlogd_pid(self) -> int | None:
        return _read_pid(self.workdir / "run" / "virtlogd.pid")

    # -- running things inside -------------------------------------------------

    def nsenter(self, argv: list[str], cwd: str | os.PathLike[str] | None = None) -> list[str]:
        """The argv that runs `argv` inside the node (cwd kept, default the caller's)."""
        wd = os.fspath(cwd) if cwd is not None else os.getcwd()
        return ["nsenter", f"--target={self.pid}", "--net", "--mount", f"--wd={wd}", "--", *argv]

    def env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        """The environment of commands in the node: the caller's, with the venv's
        bin first on PATH and LABCLOUD_LAB pointing at this node's lab file, then
        `extra` on top. Who is calling is the test's choice: SUDO_USER and
        LABCLOUD_PROJECT are not inherited, so commands run as root unless `extra` says."""
        env = {k: v for k, v in os.environ.items() if k not in ("SUDO_USER", "LABCLOUD_PROJECT")}
        env["PATH"] = f"{VENV_BIN}:{env.get('PATH', '/usr/sbin:/usr/bin:/sbin:/bin')}"
        env["LABCLOUD_LAB"] = str(self.lab_file)
        env.update(extra or {})
        return env

    def run(
        self,
        argv: list[str],
        *,
        check: bool = True,
        timeout: float = 120,
        env: dict[str, str] | None = None,
        input: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run argv in the node; text mode, output captured. `env` is merged over
        env(). With check, a non-zero exit or a timeout raises NodeCommandError."""
        self._check_alive()
        try:
            proc = subprocess.run(
                self.nsenter(argv),
                capture_output=True,
                text=True,
                timeout=timeout,
                env=self.env(env),
                input=input,
                stdin=None if input is not None else subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired as exc:
            out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else ""
            err = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else ""
            raise NodeCommandError(
                f"[{self.name}] {argv} timed out after {timeout}s\n"
                f"--- stdout ---\n{out}\n--- stderr ---\n{err}"
            ) from None
        if check and proc.returncode != 0:
            raise NodeCommandError(
                f"[{self.name}] {argv} exited {proc.returncode}\n"
                f"--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}"
            )
        return proc

    def popen(self, argv: list[str], **kw: Any) -> subprocess.Popen[Any]:
        """Start argv in the node; kw goes to Popen (`env` merged over env(),
        `cwd` becomes the working directory inside)."""
        self._check_alive()
        cwd = kw.pop("cwd", None)
        kw["env"] = self.env(kw.get("env"))
        return subprocess.Popen(self.nsenter(argv, cwd), **kw)

    def labcloud(
        self,
        *args: str,
        check: bool = True,
        timeout: float = 300,
        env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run the venv's `labcloud` in the node with LABCLOUD_LAB=lab_file (and `env`,
        e.g. SUDO_USER to act as a labcloud user)."""
        return self.run(
            [str(LABCLOUD_BIN), *args],
            check=check,
            timeout=timeout,
            env={"LABCLOUD_LAB": str(self.lab_file), **(env or {})},
        )

    def virsh(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run(["virsh", "-c", URI, *args], check=check, timeout=60)

    # -- lifecycle -------------------------------------------------------------

    def _check_alive(self) -> None:
        if self._stopped:
            raise NodeError(f"node {self.name} is stopped")

    def _alive(self) -> bool:
        return self._holder is not None and self._holder.poll() is None

    def start(self, lab_extra: str) -> None:
        self._prepare_dirs(lab_extra)
        log = open(self.workdir / "holder.log", "wb")  # noqa: SIM115 - the holder owns it
        try:
            self._holder = subprocess.Popen(
                [
                    "unshare",
                    "--net",
                    "--mount",
                    "--propagation",
                    "private",
                    "--",
                    sys.executable,
                    os.path.abspath(__file__),
                    "--hold",
                    str(self.workdir),
                ],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                env={
                    "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
                    "LC_ALL": "C.UTF-8",
                    KEEP_ENV: os.environ.get(KEEP_ENV, ""),
                },
                cwd="/",
            )
        finally:
            log.close()
        # unshare execs the holder in place: its PID is the holder's.
        self.pid = self._holder.pid
        ready = self._read_ready()
        self.netns, self.mntns = ready["netns"], ready["mntns"]
        if self.netns == _ns_id("self", "net"):  # never carry on in the host's netns
            raise NodeError(f"node {self.name}: holder is in the host's network namespace")
        self._wait_libvirtd()

    def _prepare_dirs(self, lab_extra: str) -> None:
        for sub in SUBDIRS:
            (self.workdir / sub).mkdir(parents=True, exist_ok=True)
        etc = self.workdir / "etc-libvirt"
        for item in COPIED_ETC:
            src = Path("/etc/libvirt") / item
            if src.is_dir():
                shutil.copytree(src, etc / item)
            elif src.is_file():
                shutil.copy2(src, etc / item)
        (etc / "qemu.conf").write_text(QEMU_CONF)
        (etc / "libvirtd.conf").write_text(LIBVIRTD_CONF)
        (etc / "virtlogd.conf").write_text(VIRTLOGD_CONF)
        _copy_files(CAPS_CACHE, self.workdir / "var-cache-libvirt/qemu/capabilities")
        self.lab_file.write_text(
            "[site]\n"
            f"state_dir = {json.dumps(str(self.state_dir))}\n"
            f'libvirt_uri = "{URI}"\n'
            'virt_type = "auto"\n' + (f"\n{lab_extra}\n" if lab_extra else "")
        )

    def _read_ready(self) -> dict[str, str]:
        assert self._holder is not None and self._holder.stdout is not None
        fd = self._holder.stdout.fileno()
        buf = b""
        deadline = time.monotonic() + START_TIMEOUT
        while b"\n" not in buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise NodeError(f"node {self.name}: holder not ready\n{self._logs()}")
            chunk = os.read(fd, 4096)
            if not chunk:
                raise NodeError(
                    f"node {self.name}: holder exited ({self._holder.wait()})\n{self._logs()}"
                )
            buf += chunk
        return json.loads(buf.split(b"\n", 1)[0])

    def _wait_libvirtd(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        last = ""
        while time.monotonic() < deadline:
            pid = self.libvirtd_pid
            if not self._alive() or (pid is not None and not Path(f"/proc/{pid}").exists()):
                last = "libvirtd exited"
                break
            proc = self.run(["virsh", "-c", URI, "version"], check=False, timeout=30)
            if proc.returncode == 0:
                _copy_files(self.workdir / "var-cache-libvirt/qemu/capabilities", CAPS_CACHE)
                return
            last = proc.stderr.strip()
            time.sleep(0.2)
        raise NodeError(
            f"node {self.name}: libvirtd did not answer `virsh -c {URI} version` within "
            f"{START_TIMEOUT:.0f}s: {last}\n{self._logs()}"
        )

    def _logs(self) -> str:
        logs = self.workdir / "var-log-libvirt"
        return (
            f"--- holder.log ---\n{_tail(self.workdir / 'holder.log')}\n"
            f"--- libvirtd.log ---\n{_tail(logs / 'libvirtd.log')}\n"
            f"--- libvirtd.stderr ---\n{_tail(logs / 'libvirtd.stderr')}\n"
            f"--- virtlogd.log ---\n{_tail(logs / 'virtlogd.log')}"
        )

    def _extra_netns(self) -> set[str]:
        """Namespaces the node made with `ip netns add` (pinned in its private /run)."""
        ids: set[str] = set()
        netns_dir = Path(f"/proc/{self.pid}/root/run/netns")
        try:
            entries = list(netns_dir.iterdir())
        except OSError:
            return ids
        for entry in entries:
            try:
                st = entry.stat()
            except OSError:
                continue
            if st.st_ino and _ns_id("self", "net") != f"net:[{st.st_ino}]":
                ids.add(f"net:[{st.st_ino}]")
        return ids

    def stop(self) -> None:
        """Stop everything in the node, then remove its workdir. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        try:
            self._kill_all()
        finally:
            self._remove_workdir()
            _LIVE.discard(self)

    def _kill_all(self) -> None:
        if not self.netns and self._alive():
            # The holder never reported: take its namespaces from /proc, if new.
            net, mnt = _ns_id(self.pid, "net"), _ns_id(self.pid, "mnt")
            if net and mnt and net != _ns_id("self", "net") and mnt != _ns_id("self", "mnt"):
                self.netns, self.mntns = net, mnt
        if not self.netns:  # only the holder itself can exist
            if self._holder is not None:
                _signal_all({self._holder.pid}, None, 2.0)
                self._holder.wait()
            return
        netns, mntns = {self.netns}, {self.mntns}
        if self._alive():
            self._destroy_domains()
            netns |= self._extra_netns()
        check = netns | mntns
        daemons = {p for p in (self.libvirtd_pid, self.virtlogd_pid) if p}
        holder = {self.pid}
        # Guests, dnsmasq and test programs; then the daemons; then the holder.
        _signal_all(_members(netns, mntns) - daemons - holder, check, 5.0)
        _signal_all(daemons & _members(netns, mntns), check, 10.0)
        if self._holder is not None:
            if self._holder.stdin is not None:
                self._holder.stdin.close()  # EOF tells the holder to exit
            try:
                self._holder.wait(5)
            except subprocess.TimeoutExpired:
                _signal_all(holder, None, 1.0)
                self._holder.wait()
            if self._holder.stdout is not None:
                self._holder.stdout.close()
        # Anything that slipped in meanwhile: the namespaces are ours alone.
        _signal_all(_members(netns, mntns), check, 1.0)

    def _destroy_domains(self) -> None:
        """Let libvirt tear its guests down cleanly before anything is killed."""
        try:
            names = subprocess.run(
                self.nsenter(["virsh", "-c", URI, "list", "--name"], "/"),
                capture_output=True,
                text=True,
                timeout=20,
                check=False,
            ).stdout.split()
            for dom in names:
                subprocess.run(
                    self.nsenter(["virsh", "-c", URI, "destroy", dom], "/"),
                    capture_output=True,
                    timeout=20,
                    check=False,
                )
        except subprocess.TimeoutExpired:
            pass  # a hung libvirtd: the kills below end the guests anyway

    def _remove_workdir(self) -> None:
        if os.environ.get(KEEP_ENV):
            print(f"{KEEP_ENV} set: keeping {self.workdir}", file=sys.stderr)
            return
        if points := _mounts_under(self.workdir):  # never rmtree through a mount
            raise NodeError(f"node {self.name}: mounts left under {self.workdir}: {points}")
        shutil.rmtree(self.workdir, ignore_errors=True)
        if self._base_owned is not None:
            with contextlib.suppress(OSError):
                self._base_owned.rmdir()


_LIVE: set[Node] = set()


@atexit.register
def _stop_leftovers() -> None:
    for node in list(_LIVE):
        node.stop()


def start_node(name: str, base: Path | None = None, *, lab_extra: str = "") -> Node:
    """Start an isolated node; its workdir is `base`/`name` (base: a new temp dir).

    Waits until the node's libvirtd answers. On failure the node is stopped and a
    NodeError carries the tail of the holder's and daemons' logs.
    """
    if not NAME_RE.match(name):
        raise ValueError(f"node name {name!r} must match {NAME_RE.pattern}")
    base_owned = None
    if base is None:
        base = base_owned = Path(tempfile.mkdtemp(prefix=TMP_PREFIX))
    workdir = Path(base).resolve() / name
    workdir.mkdir(parents=True, exist_ok=False)
    node = Node(name, workdir, base_owned)
    _LIVE.add(node)
    try:
        node.start(lab_extra)
    except BaseException:
        node.stop()
        raise
    return node


def link_nodes(a: Node, b: Node, addr_a: str, addr_b: str) -> tuple[str, str]:
    """Join two nodes with a veth pair (an underlay, like a cable between two hosts).

    addr_a/addr_b are address/prefix for each end. The pair is made inside node a and
    one end moved into node b's namespace by the holder's PID, so nothing touches the
    host's namespace; it disappears with the nodes. Returns the two interface names.
    """
    end_a, end_b = f"lcul-{b.name}"[:15], f"lcul-{a.name}"[:15]
    a.run(["ip", "link", "add", end_a, "type", "veth", "peer", "name", end_b, "netns", str(b.pid)])
    for node, end, addr in ((a, end_a, addr_a), (b, end_b, addr_b)):
        node.run(["ip", "addr", "add", addr, "dev", end])
        node.run(["ip", "link", "set", end, "up"])
    return end_a, end_b


# -- the holder: runs inside the new namespaces ------------------------------


def _mount(src: str, target: str, fstype: str | None, flags: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.mount(src.encode(), target.encode(), fstype and fstype.encode(), flags, None) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {src} on {target}: {os.strerror(err)}")


def _reap() -> None:
    """Collect exited children: daemons and guests reparent to the holder."""
    while True:
        try:
            if os.waitpid(-1, os.WNOHANG)[0] == 0:
                return
        except ChildProcessError:
            return


def _hold(workdir: Path) -> None:
    netns, mntns = _ns_id("self", "net"), _ns_id("self", "mnt")
    if not netns or not mntns or netns == _ns_id(1, "net") or mntns == _ns_id(1, "mnt"):
        sys.exit("holder: not in new namespaces; refusing to touch the host")
    try:
        _setup(workdir)
    except BaseException:
        # A half-started node (virtlogd up, libvirtd failed) must not linger.
        _signal_all(_members({netns}, {mntns}) - {os.getpid()}, {netns, mntns}, 5.0)
        _reap()
        raise
    sys.stdout.write(json.dumps({"netns": netns, "mntns": mntns}) + "\n")
    sys.stdout.flush()
    stopping: list[int] = []
    signal.signal(signal.SIGTERM, lambda signum, _frame: stopping.append(signum))
    while not stopping:
        try:
            ready, _, _ = select.select([sys.stdin], [], [], 1.0)
        except InterruptedError:
            continue
        _reap()
        if ready and not os.read(sys.stdin.fileno(), 4096):
            break
    # The harness is gone or done: leave nothing running in our namespaces, and
    # no workdir behind if the harness died without stopping us.
    _signal_all(_members({netns}, {mntns}) - {os.getpid()}, {netns, mntns}, 5.0)
    _reap()  # leave no zombies to init
    if not os.environ.get(KEEP_ENV) and not _mounts_under(workdir):
        shutil.rmtree(workdir, ignore_errors=True)
        if workdir.parent.name.startswith(TMP_PREFIX):
            with contextlib.suppress(OSError):
                workdir.parent.rmdir()


def _setup(workdir: Path) -> None:
    """Inside the new namespaces: private mounts, lo up, the node's daemons."""
    # A sysfs of our own: /sys/class/net then shows this netns, as in `ip netns exec`.
    _mount("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    for sub, target in BINDS.items():
        _mount(str(workdir / sub), target, None, MS_BIND)
    if not os.path.islink("/var/run"):  # a symlink to /run on Debian; cover it if not
        _mount(str(workdir / "run"), "/var/run", None, MS_BIND)
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    # Daemons (and the guests they fork) reparent to us, so we reap them.
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    log = workdir / "var-log-libvirt"
    for daemon, conf, pidfile in (
        (VIRTLOGD, "/etc/libvirt/virtlogd.conf", "/run/virtlogd.pid"),
        (LIBVIRTD, "/etc/libvirt/libvirtd.conf", "/run/libvirtd.pid"),
    ):
        name = Path(daemon).name
        with open(log / f"{name}.stderr", "ab") as err:
            subprocess.run(
                [daemon, "--daemon", "--config", conf, "--pid-file", pidfile],
                stdin=subprocess.DEVNULL,
                stdout=err,
                stderr=err,
                check=True,
            )


if __name__ == "__main__" and sys.argv[1:2] == ["--hold"]:
    try:
        _hold(Path(sys.argv[2]))
    except OSError as exc:
        sys.exit(f"holder: {exc}")
    except subprocess.CalledProcessError as exc:
        sys.exit(f"holder: {exc}")
