"""The TUI on the control node: a server on a remote node is powered off behind
labcloud's back (virsh on that node, over SSH), and its row turns SHUTOFF by itself."""

from __future__ import annotations

import json
import os
import subprocess

from labcloud.screens.app import LabApp

from labcloud.lab import Lab
from tests.tui.conftest import settle
from tests.tui.in_node.conftest import row, until


async def test_a_server_stopped_on_its_node_behind_labclouds_back_turns_shutoff(lab: Lab) -> None:
    app = LabApp(lab, start="servers")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await until(pilot, lambda: (row(pilot, "web1") or ("", ""))[1] == "ACTIVE", "web1 ACTIVE")
        # Not through labcloud: the test's own ssh to the node runs virsh there.
        subprocess.run(json.loads(os.environ["LABCLOUD_TEST_BEHIND_BACK"]), check=True)
        await until(pilot, lambda: row(pilot, "web1")[1] == "SHUTOFF", "web1 SHUTOFF", 60)
