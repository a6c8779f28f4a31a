"""One dnsmasq per network, in the network's DHCP namespace. No policy here.

It hands out only the addresses the network service allocated: the ranges are `static`,
and each port's MAC is mapped to its IP in a hosts file. A port change rewrites the
hosts and options files and sends SIGHUP; a changed range (a new subnet) restarts it.
It runs under its own supervisor process (supervisor.py), which starts it again when it
dies. Pidfiles, leases and log live under state_dir/dhcp/<netns>/.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import signal
import tempfile
from pathlib import Path

from labcloud.backends.supervisor import Supervised, daemon_pid, terminate, wait_until

from labcloud.errors import BackendError

CALLS = {"spawn": 0, "sighup": 0}
NETNS_DIR = Path("/run/netns")
# Neutron's IPv6 address modes -> dnsmasq's dhcp-range modes (RA flags A, O, M).
V6_RANGE_MODES = {
    "slaac": "ra-only",  # A: the guest forms its address; no DHCPv6
    "dhcpv6-stateless": "ra-stateless",  # A and O: SLAAC, other config by DHCPv6
    "dhcpv6-stateful": "static",  # M: addresses by DHCPv6, from the hosts file
}


class Dnsmasq:
    def __init__(self, state_dir: Path, netns: str) -> None:
        self.netns = netns
        self.dir = state_dir / "dhcp" / netns
        self.conf = self.dir / "dnsmasq.conf"
        self.hosts = self.dir / "hosts"
        self.opts = self.dir / "opts"
        self.pidfile = self.dir / "dnsmasq.pid"
        self.leases = self.dir / "leases"
        self.log = self.dir / "dnsmasq.log"
        self.supervisor_pidfile = self.dir / "supervisor.pid"
        self.supervised = Supervised(netns, self.supervisor_pidfile, self.log)

    # -- state ----------------------------------------------------------------------
    def pid(self) -> int | None:
        """The running dnsmasq's PID, checked against /proc so a recycled PID is not ours."""
        conf = str(self.conf).encode()
        return daemon_pid(
            self.pidfile,
            lambda words: os.path.basename(words[0]) == b"dnsmasq" and conf in b"".join(words),
        )

    def supervisor_pid(self) -> int | None:
        return self.supervised.pid()

    def status(self) -> dict[str, object]:
        pid, sup = self.pid(), self.supervisor_pid()
        hosts = self.hosts.read_text().splitlines() if self.hosts.exists() else []
        return {
            "running": pid is not None,
            "pid": pid,
            "supervised": sup is not None,
            "supervisor_pid": sup,
            "hosts": len(hosts),
        }

    # -- apply ----------------------------------------------------------------------
    def apply(self, iface: str, subnets: list[dict[str, object]], hosts: list[dict[str, str]]):
        """Write the files; start, reload or restart dnsmasq so it serves exactly them."""
        self.dir.mkdir(parents=True, exist_ok=True)
        conf_changed = _write_if_changed(self.conf, self.conf_text(iface, subnets))
        files_changed = _write_if_changed(self.hosts, _hosts_text(hosts))
        files_changed |= _write_if_changed(self.opts, _opts_text(subnets))
        pid = self.pid()
        # A lease whose port is gone would keep its address from the next port that gets
        # it (Neutron runs dhcp_release); here the lease file is pruned while dnsmasq is down.
        stale = self._stale_leases(hosts)
        # A dnsmasq without its supervisor (it died) is started again under a new one.
        unsupervised = self.supervisor_pid() is None
        if pid is None or conf_changed or stale or unsupervised:
            self.stop()
            pid = None
        if stale:
            self._prune_leases(stale)
        if pid is None:
            self._start()
        elif files_changed:
            CALLS["sighup"] += 1
            os.kill(pid, signal.SIGHUP)

    def _leases(self) -> list[str]:
        try:
            return self.leases.read_text().splitlines()
        except OSError:
            return []

    def _stale_leases(self, hosts: list[dict[str, str]]) -> set[str]:
        """Lease lines (expiry mac ip ...) whose MAC and address are no longer a host."""
        wanted = {(h["mac"].lower(), h["ip"]) for h in hosts}
        stale = set()
        for line in self._leases():
            fields = line.split()
            # IPv4 lines only (expiry MAC IP ...): IPv6 ones name an IAID, not a MAC.
            v4 = len(fields) >= 3 and ":" not in fields[2] and fields[1].count(":") == 5
            if v4 and (fields[1].lower(), fields[2]) not in wanted:
                stale.add(line)
        return stale

    def _prune_leases(self, stale: set[str]) -> None:
        kept = [line for line in self._leases() if line not in stale]
        _write_if_changed(self.leases, "\n".join(kept) + ("\n" if kept else ""))

    def conf_text(self, iface: str, subnets: list[dict[str, object]]) -> str:
        lines = [
            "# written by labcloud; changes are overwritten",
            "no-hosts",
            "no-resolv",
            "port=0",  # DHCP only
            f"interface={iface}",
            "bind-interfaces",
            "except-interface=lo",
            "user=root",  # the state directory is private to root
            "dhcp-authoritative",
            "log-dhcp",
            f"log-facility={self.log}",
            f"pid-file={self.pidfile}",
            f"dhcp-leasefile={self.leases}",
            f"dhcp-hostsfile={self.hosts}",
            f"dhcp-optsfile={self.opts}",
        ]
        ipv6 = False
        for sub in subnets:
            net = ipaddress.ip_network(str(sub["cidr"]))
            lease = f"{sub.get('lease', 86400)}s"
            if net.version == 4:
                lines.append(
                    f"dhcp-range=set:{sub['tag']},{net.network_address},static,"
                    f"{net.netmask},{lease}"
                )
            else:
                ipv6 = True
                mode = V6_RANGE_MODES[str(sub.get("mode") or "dhcpv6-stateful")]
                lines.append(
                    f"dhcp-range=set:{sub['tag']},{net.network_address},{mode},"
                    f"{net.prefixlen},{lease}"
                )
        if ipv6:
            # dnsmasq sends the router advertisements (flags from each range's mode), every
            # 10 s and on solicitation; router lifetime 0: this namespace routes nothing.
            mtu = next((s.get("mtu") for s in subnets if s.get("mtu")), None)
            lines.append("enable-ra")
            lines.append(f"ra-param={iface}," + (f"mtu:{mtu}," if mtu else "") + "10,0")
        return "\n".join(lines) + "\n"

    def _start(self) -> None:
        CALLS["spawn"] += 1
        argv = ["ip", "netns", "exec", self.netns, "dnsmasq", "--keep-in-foreground"]
        argv.append(f"--conf-file={self.conf}")
        self.supervised.start(
            f"the DHCP supervisor in {self.netns}",
            "dnsmasq",
            argv,
            watch=NETNS_DIR / self.netns,  # a network deleted behind its back
            reload_on_hup=True,
        )
        if wait_until(lambda: self.pid() is not None, 5.0):
            return
        self.stop()
        tail = " ".join(_tail(self.log, 3).split())[-300:]
        raise BackendError(f"dnsmasq in {self.netns} did not start: {tail or 'no log'}")

    def stop(self) -> None:
        """Stop the supervisor (which stops its dnsmasq), then any dnsmasq left over."""
        self.supervised.stop()
        terminate(self.pid(), self.pid)

    def remove(self) -> None:
        self.stop()
        paths = (self.conf, self.hosts, self.opts, self.pidfile, self.leases, self.log)
        for path in (*paths, self.supervisor_pidfile):
            path.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            self.dir.rmdir()


def _tail(path: Path, lines: int) -> str:
    try:
        return "\n".join(path.read_text().splitlines()[-lines:])
    except OSError:
        return ""


def _hosts_text(hosts: list[dict[str, str]]) -> str:
    """One line per MAC with all its addresses (IPv6 in brackets), as dnsmasq wants."""
    by_mac: dict[str, tuple[list[str], str]] = {}
    for h in hosts:
        ip = h["ip"]
        addrs, _name = by_mac.setdefault(h["mac"], ([], h["hostname"]))
        addrs.append(f"[{ip}]" if ":" in ip else ip)
    lines = [f"{mac},{','.join(addrs)},{name}" for mac, (addrs, name) in by_mac.items()]
    return "\n".join(lines) + ("\n" if lines else "")


def _opts_text(subnets: list[dict[str, object]]) -> str:
    lines = []
    for sub in subnets:
        if int(str(sub.get("ip_version", 4))) != 4:
            dns6 = list(sub.get("dns") or [])  # type: ignore[call-overload]
            if dns6:
                servers = ",".join(f"[{d}]" for d in dns6)
                lines.append(f"tag:{sub['tag']},option6:dns-server,{servers}")
            continue
        tag = sub["tag"]
        gateway = sub.get("gateway")
        # An empty router option tells the client there is no gateway.
        lines.append(f"tag:{tag},option:router" + (f",{gateway}" if gateway else ""))
        dns = list(sub.get("dns") or [])  # type: ignore[call-overload]
        if dns:
            lines.append(f"tag:{tag},option:dns-server," + ",".join(dns))
        routes = list(sub.get("routes") or [])  # type: ignore[call-overload]
        if routes:
            pairs = [f"{r['destination']},{r['nexthop']}" for r in routes]
            if gateway:  # with 121, clients ignore option 3: keep the default route
                pairs.append(f"0.0.0.0/0,{gateway}")
            lines.append(f"tag:{tag},option:classless-static-route," + ",".join(pairs))
        if sub.get("mtu"):
            lines.append(f"tag:{tag},option:mtu,{sub['mtu']}")
    return "\n".join(lines) + ("\n" if lines else "")


def _write_if_changed(path: Path, text: str) -> bool:
    try:
        if path.read_text() == text:
            return False
    except OSError:
        pass
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)
    return True
