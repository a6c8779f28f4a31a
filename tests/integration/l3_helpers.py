"""Helpers for the router, floating IP and security group stories.

Everything here runs inside the harness node: the namespaces made are the node's, and
every packet stays on the node's bridges.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass

from tests.harness import Node

# A tiny HTTP GET from inside a netns; prints the body, or exits 1 when it cannot connect.
_GET = """
import socket, sys
host, path = sys.argv[1], sys.argv[2]
try:
    s = socket.create_connection((host, 80), timeout=float(sys.argv[3]))
    s.sendall(f"GET {path} HTTP/1.0\\r\\nHost: {host}\\r\\n\\r\\n".encode())
    data = b""
    while chunk := s.recv(4096):
        data += chunk
except OSError as exc:
    sys.exit(f"no answer: {exc}")
print(data.split(b"\\r\\n\\r\\n", 1)[-1].decode(errors="replace"), end="")
"""

# An HTTP server in a netns that answers with the client's address (to see SNAT).
_WHOAMI = """
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = self.client_address[0].encode()
        self.send_response(200); self.send_header("Content-Length", str(len(body)))
        self.end_headers(); self.wfile.write(body)
    def log_message(self, *a): pass
http.server.HTTPServer((sys.argv[1], 80), H).serve_forever()
"""


def js(lab: Node, *args: str) -> dict[str, object]:
    return dict(json.loads(lab.labcloud(*args, "-f", "json").stdout))


def make_net(lab: Node, name: str, cidr: str, *subnet_args: str, external: bool = False) -> str:
    """A network with one subnet; returns its bridge's name."""
    extra = ["--external", "--provider-network-type", "flat"] if external else []
    lab.labcloud("network", "create", name, *extra)
    lab.labcloud(
        "subnet", "create", f"{name}-sub", "--network", name, "--subnet-range", cidr, *subnet_args
    )
    return str(js(lab, "network", "show", name)["bridge"])


def server_ip(lab: Node, server: str) -> str:
    rows = json.loads(lab.labcloud("port", "list", "--server", server, "-f", "json").stdout)
    fixed = str(rows[0]["Fixed IP Addresses"])
    return fixed.split("ip_address='", 1)[1].split("'", 1)[0]


def http_get(
    lab: Node, netns: str, host: str, path: str = "/hostname", timeout: float = 3
) -> str | None:
    """The body of GET http://host/path from inside netns, or None if nothing answered."""
    proc = lab.run(
        ["ip", "netns", "exec", netns, "python3", "-c", _GET, host, path, str(timeout)],
        check=False,
        timeout=timeout + 30,
    )
    return proc.stdout.strip() if proc.returncode == 0 else None


@dataclass
class NetnsHost:
    """A netns wired to a bridge through a veth, like a machine on that network."""

    lab: Node
    netns: str
    outer: str  # the veth end on the bridge

    def run(self, *argv: str, check: bool = True) -> str:
        return self.lab.run(["ip", "netns", "exec", self.netns, *argv], check=check).stdout

    def set_ip(self, old: str, new: str, prefix: int) -> None:
        self.run("ip", "addr", "del", f"{old}/{prefix}", "dev", "eth0")
        self.run("ip", "addr", "add", f"{new}/{prefix}", "dev", "eth0")

    def remove(self) -> None:
        self.lab.run(["ip", "link", "del", self.outer], check=False)
        self.lab.run(["ip", "netns", "del", self.netns], check=False)


def netns_host(
    lab: Node,
    netns: str,
    outer: str,
    bridge: str,
    address: str,
    *,
    mac: str | None = None,
    gateway: str | None = None,
) -> NetnsHost:
    """netns with eth0 = address (CIDR form), its peer `outer` enslaved to bridge."""
    lab.run(["ip", "netns", "add", netns])
    lab.run(["ip", "link", "add", outer, "type", "veth", "peer", "name", "eth0", "netns", netns])
    lab.run(["ip", "link", "set", outer, "master", bridge, "up"])
    host = NetnsHost(lab, netns, outer)
    if mac:
        host.run("ip", "link", "set", "eth0", "address", mac)
    host.run("ip", "link", "set", "lo", "up")
    host.run("ip", "link", "set", "eth0", "up")
    host.run("ip", "addr", "add", address, "dev", "eth0")
    if gateway:
        host.run("ip", "route", "add", "default", "via", gateway)
    return host


def probe_on_port(lab: Node, netns: str, port: str, prefix: int, gateway: str) -> NetnsHost:
    """A netns plugged in as labcloud port `port` would be: its tap name, MAC and IP, so
    the port's security groups and anti-spoofing apply to it exactly as to a server."""
    shown = js(lab, "port", "show", port)
    net = js(lab, "network", "show", str(shown["network_id"]))
    ip = str(shown["fixed_ips"]).split("ip_address='", 1)[1].split("'", 1)[0]
    return netns_host(
        lab,
        netns,
        str(shown["binding:tap"]),
        str(net["bridge"]),
        f"{ip}/{prefix}",
        mac=str(shown["mac_address"]),
        gateway=gateway,
    )


def whoami_server(host: NetnsHost, address: str) -> subprocess.Popen[bytes]:
    return host.lab.popen(
        ["ip", "netns", "exec", host.netns, "python3", "-c", _WHOAMI, address],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
