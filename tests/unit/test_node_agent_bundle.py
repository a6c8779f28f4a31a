"""The host agent shipped to a node: what it brings with it works on its own.

A node has python3 and nothing of labcloud; the zip is all it gets. This runs the zip in a
fresh interpreter that cannot see the installed package, as a node would.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from labcloud.backends import node_l2
from labcloud.backends.remote_agent import METHODS, bundle

# Runs in isolation (-I: no site-packages, no cwd): only the zip on sys.path.
_RENDER = """
import json, sys
sys.path.insert(0, sys.argv[1])
from labcloud.backends.host_agent import LocalAgent
from labcloud.backends import nftables
assert hasattr(LocalAgent, "apply_filter")
spec = json.loads(sys.argv[2])
print(nftables.render_filter({**spec, "zones": nftables.zones_for(spec["bridges"])}))
"""


def test_the_agent_zip_renders_security_groups_without_labcloud_installed(tmp_path: Path) -> None:
    zipped = tmp_path / "agent.zip"
    zipped.write_bytes(bundle())
    port = {
        "tap": "lctap-0123abcd",
        "mac": "fa:16:3e:00:00:01",
        "ips": ["10.32.0.3"],
        "rules": [],
    }
    spec = {"ports": [port], "groups": {}, "bridges": ["lcbr-89abcdef"]}
    out = subprocess.run(
        [sys.executable, "-I", "-c", _RENDER, str(zipped), json.dumps(spec)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    # The port's anti-spoofing, exactly as the control node renders it for a local port.
    assert "ether saddr != fa:16:3e:00:00:01 drop" in out
    assert "ip saddr != { 10.32.0.3 } drop" in out
    assert "apply_filter" in METHODS


def test_node_l2_only_removes_labcloud_interfaces() -> None:
    for name in ("eth0", "mgmt0", "lcbr-x;rm"):
        try:
            node_l2.remove({"bridge": name, "vxlan": "lcvx-01234567"})
        except SystemExit as exc:
            assert "not one of labcloud's" in str(exc)
        else:
            raise AssertionError(f"{name} was accepted")
