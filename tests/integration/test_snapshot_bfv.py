"""A snapshot of a server that boots from a volume: the image holds the root volume's
content, as in Nova, and a new server booted from that image sees what the first one
wrote to its disk."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.harness import Node
from tests.integration.cli_helpers import console, show

READY = "labcloud-tiny: ready"
MARKER = "bfv-snapshot-marker-3"

# The first server writes a marker at 1 MiB into its root disk (the volume)...
WRITE_SCRIPT = f"""#!/bin/sh
printf '{MARKER}' | dd of=/dev/vda bs=1M seek=1 conv=notrunc 2>/dev/null
sync
echo "bfv wrote the marker"
"""
# ...and the server booted from the snapshot reads it back from its own root disk.
READ_SCRIPT = f"""#!/bin/sh
echo "image says: $(dd if=/dev/vda bs=1M skip=1 count=1 2>/dev/null | head -c {len(MARKER)})"
"""


def test_snapshot_of_a_boot_from_volume_server_boots_a_new_server(
    lab: Node, tmp_path: Path, made: list[tuple[str, str]]
) -> None:
    lab.labcloud("volume", "create", "bfv-root", "--image", "tiny", "--size", "1")
    made.append(("volume", "bfv-root"))
    (tmp_path / "write.sh").write_text(WRITE_SCRIPT)
    lab.labcloud(
        "server", "create", "bfv-src", "--volume", "bfv-root", "--flavor", "m1.nano",
        "--user-data", str(tmp_path / "write.sh"), "--wait",
    )  # fmt: skip
    made.append(("server", "bfv-src"))
    console(lab, "bfv-src", "bfv wrote the marker")

    # Taken while the server runs: it is paused for the copy and resumed.
    lab.labcloud("server", "image", "create", "bfv-src", "--name", "bfv-snap")
    made.append(("image", "bfv-snap"))
    assert show(lab, "server", "bfv-src")["status"] == "ACTIVE"
    snap = show(lab, "image", "bfv-snap")
    tiny = show(lab, "image", "tiny")
    assert snap["status"] == "active"
    assert (snap["disk_format"], snap["kernel_id"]) == ("ami", tiny["kernel_id"])
    assert snap["min_disk"] == 1  # the volume's size
    stored = lab.state_dir / "images" / str(snap["checksum"])
    info = json.loads(
        subprocess.run(
            ["qemu-img", "info", "--output=json", str(stored)], check=True, capture_output=True
        ).stdout
    )
    assert info["format"] == "qcow2" and "backing-filename" not in info  # self-contained

    (tmp_path / "read.sh").write_text(READ_SCRIPT)
    lab.labcloud(
        "server", "create", "from-bfv", "--image", "bfv-snap", "--flavor", "m1.nano",
        "--user-data", str(tmp_path / "read.sh"), "--wait",
    )  # fmt: skip
    made.append(("server", "from-bfv"))
    log = console(lab, "from-bfv", "image says")
    assert f"image says: {MARKER}" in log
    assert "labcloud-tiny: cloud-init hostname from-bfv" in log
    # The new server boots from an overlay on the image; the volume stays with bfv-src.
    assert (lab.state_dir / "instances" / str(show(lab, "server", "from-bfv")["id"])).is_dir()
    assert show(lab, "volume", "bfv-root")["status"] == "in-use"
