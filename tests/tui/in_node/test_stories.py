"""A user drives the TUI on a real lab (libvirtd, qemu, dnsmasq, nftables in a harness
node): things are created, appear, are acted on and deleted, and the screen shows it."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
from pathlib import Path

from labcloud.screens.app import LabApp
from labcloud.screens.forms import FormScreen
from labcloud.screens.instance import InstanceScreen
from labcloud.screens.modals import ConfirmScreen, TypeNameScreen
from labcloud.screens.serial import SerialConsole

from labcloud.errors import LabError
from labcloud.lab import Lab
from labcloud.services.core import CreateRequest
from labcloud.services.l3 import RuleRequest
from tests.tui.conftest import screen_text, settle
from tests.tui.in_node.conftest import fill, row, select_row, submit, until

LABCLOUD = str(Path(sys.executable).with_name("labcloud"))


async def test_a_server_from_another_terminal_appears_and_its_console_answers(lab: Lab) -> None:
    app = LabApp(lab, start="servers")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert row(pilot, "ext1") is None
        # Another terminal creates a server; nobody touches the TUI.
        other = subprocess.Popen(
            [LABCLOUD, "server", "create", "ext1", "--image", "tiny", "--flavor", "m1.nano"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        await until(pilot, lambda: row(pilot, "ext1") is not None, "the new row")
        out, _ = other.communicate(timeout=300)
        assert other.returncode == 0, out
        await until(pilot, lambda: row(pilot, "ext1")[1] == "ACTIVE", "ext1 ACTIVE")
        await asyncio.to_thread(lab.compute.wait_console, "ext1", "labcloud-tiny: ready", 180)

        # Enter opens the instance screen; `t` its serial console; typing reaches the guest.
        select_row(pilot, "ext1")
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, InstanceScreen)
        await until(pilot, lambda: "labcloud-tiny: ready" in screen_text(pilot), "the console log")
        await pilot.press("t")
        console = app.screen.query_one(SerialConsole)
        await until(pilot, lambda: "~#" in console.text(), "a shell prompt")
        await pilot.press(*"echo tui-$((6*7))", "enter")
        await until(pilot, lambda: "\ntui-42" in console.text(), "the command's output")
        assert "tui-42" in screen_text(pilot)
        await pilot.press("ctrl+right_square_bracket", "o")  # keys are the TUI's again: stop
        await until(pilot, lambda: "SHUTOFF" in screen_text(pilot).splitlines()[0], "SHUTOFF")
        await pilot.press("escape")
        await settle(pilot)
        await until(pilot, lambda: row(pilot, "ext1")[1] == "SHUTOFF", "SHUTOFF in the list")

        await pilot.press("ctrl+d")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmScreen)  # stopped: a plain yes/no
        await pilot.press("y")
        await until(pilot, lambda: row(pilot, "ext1") is None, "the row to go")
        assert "$ labcloud server delete ext1" in screen_text(pilot)


async def test_a_server_made_in_the_form_runs_and_is_deleted_by_typing_its_name(lab: Lab) -> None:
    app = LabApp(lab, start="servers")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("c")
        await settle(pilot)
        assert isinstance(app.screen, FormScreen)
        await fill(pilot, name="formvm", image="tiny", flavor="m1.nano")
        assert (
            app.screen.cli_shown == "$ labcloud server create formvm --image tiny --flavor m1.nano"
        )
        await submit(pilot)
        await until(pilot, lambda: (row(pilot, "formvm") or ("", ""))[1] == "ACTIVE", "ACTIVE")
        await pilot.press("ctrl+d")
        await settle(pilot)
        assert isinstance(app.screen, TypeNameScreen)  # running: the name must be typed
        await pilot.press(*"wrong", "enter")
        assert "that is not the name" in screen_text(pilot)
        app.screen.query_one("#typed").value = ""
        await pilot.press(*"formvm", "enter")
        await until(pilot, lambda: row(pilot, "formvm") is None, "the row to go")
        servers = await asyncio.to_thread(lab.compute.list)
        assert "formvm" not in [s.name for s in servers]


async def test_networks_routers_floating_ips_and_rules_from_forms(lab: Lab) -> None:
    app = LabApp(lab, start="networks")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        # An internal network with a subnet, and an external one.
        await pilot.press("c")
        await fill(pilot, name="tui-net", cidr="10.77.0.0/24")
        await submit(pilot)
        await until(pilot, lambda: (row(pilot, "tui-net") or "012")[2] == "10.77.0.0/24", "tui-net")
        await pilot.press("c")
        await fill(pilot, name="tui-pub", cidr="198.51.100.0/24", provider="flat", external=True)
        assert "--provider-network-type flat --external" in app.screen.cli_shown
        await submit(pilot)
        await until(pilot, lambda: row(pilot, "tui-pub") is not None, "tui-pub")

        # A router joining them, from its form.
        await pilot.press("colon", *"routers", "enter")
        await settle(pilot)
        await pilot.press("c")
        await fill(pilot, name="tui-r", gateway="tui-pub", subnets=["tui-net-subnet"])
        await submit(pilot)
        await until(pilot, lambda: row(pilot, "tui-r") is not None, "tui-r")
        assert "10.77.0.1" in row(pilot, "tui-r")[3]

        # The topology draws the router on both networks.
        await pilot.press("colon", *"topology", "enter")
        await settle(pilot)
        text = screen_text(pilot)
        assert "external network tui-pub" in text
        assert "router tui-r gateway 198.51.100." in text
        assert "subnet tui-net-subnet 10.77.0.0/24" in text

        # A floating IP from the external network.
        await pilot.press("9", "c")
        await fill(pilot, network="tui-pub")
        await submit(pilot)
        await until(pilot, lambda: app.main.view.table.row_count == 1, "a floating IP row")
        fip = app.main.view.items[0].cells[0]
        assert fip.startswith("198.51.100.")
        await pilot.press("ctrl+d", "y")
        await until(pilot, lambda: app.main.view.table.row_count == 0, "the floating IP to go")

        # A rule in the default security group; the detail pane lists it.
        await pilot.press("8")
        await settle(pilot)
        await pilot.press("c")
        await fill(pilot, group="default", protocol="tcp", ports="2222")
        assert "rule create default --protocol tcp --dst-port 2222" in app.screen.cli_shown
        await submit(pilot)
        await until(pilot, lambda: "tcp 2222" in screen_text(pilot), "the rule in the detail")

        # A router with interfaces is refused by the service, in its own words.
        await pilot.press("colon", *"routers", "enter", "ctrl+d")
        await settle(pilot)
        await pilot.press(*"tui-r", "enter")
        await until(pilot, lambda: "still has interfaces" in screen_text(pilot), "the refusal")
        assert row(pilot, "tui-r") is not None
        # (off the event loop, as the TUI's workers do: pyroute2 runs its own)
        await asyncio.to_thread(lab.routers.remove_subnet, "tui-r", "tui-net-subnet")
        # The live update redraws the row without the leg; only then is a plain "y" enough
        # (a row still showing interfaces rightly asks for the typed name).
        await until(pilot, lambda: "10.77.0.1" not in row(pilot, "tui-r")[3], "tui-r without legs")
        await pilot.press("ctrl+d", "y")
        await until(pilot, lambda: row(pilot, "tui-r") is None, "tui-r gone")

        # Deleting a network with a subnet asks for its name.
        await pilot.press("5")
        await settle(pilot)
        for name in ("tui-net", "tui-pub"):
            select_row(pilot, name)
            await pilot.press("ctrl+d")
            await settle(pilot)
            assert isinstance(app.screen, TypeNameScreen)
            await pilot.press(*name, "enter")
            await until(pilot, lambda n=name: row(pilot, n) is None, f"{name} gone")


async def test_a_volume_and_an_imported_image(lab: Lab, tmp_path: Path) -> None:
    disk = tmp_path / "small.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(disk), "16M"], check=True)
    app = LabApp(lab, start="volumes")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("c")
        await fill(pilot, name="tui-vol", size="1")
        await submit(pilot)
        await until(pilot, lambda: (row(pilot, "tui-vol") or ("", ""))[1] == "available", "tui-vol")
        await pilot.press("ctrl+d", "y")
        await until(pilot, lambda: row(pilot, "tui-vol") is None, "tui-vol gone")

        await pilot.press("3", "c")
        await fill(pilot, name="tui-img", file=str(disk), protected=True)
        assert app.screen.cli_shown == f"$ labcloud image create tui-img --file {disk} --protected"
        await submit(pilot)
        await until(pilot, lambda: (row(pilot, "tui-img") or ("", ""))[1] == "active", "tui-img")
        select_row(pilot, "tui-img")
        await pilot.press("ctrl+d")
        await settle(pilot)
        assert isinstance(app.screen, TypeNameScreen)  # protected
        await pilot.press(*"tui-img", "enter")
        await settle(pilot)
        # The service refuses a protected image: its one line is shown, the row stays.
        await until(
            pilot, lambda: "image tui-img is protected" in screen_text(pilot), "the refusal"
        )
        assert row(pilot, "tui-img") is not None
        await asyncio.to_thread(lab.images.update, "tui-img", protected=False)
        await asyncio.to_thread(lab.images.delete, "tui-img")


def _build_the_actions_lab(lab: Lab) -> str:
    """A server on an internal network, an external network, a bare router, a volume, a free
    floating IP and one extra rule: what the actions below act on. Returns the FIP."""
    net = lab.network.create_network("act-net")
    lab.network.create_subnet("act-sub", net.id, "10.78.0.0/24")
    pub = lab.network.create_network("act-pub", provider_network_type="flat", external=True)
    lab.network.create_subnet("act-pub-sub", pub.id, "203.0.113.0/24")
    lab.routers.create("act-r")
    lab.volumes.create("act-vol", 1)
    lab.security_groups.create_rule("default", RuleRequest(protocol="tcp", dst_port="2323"))
    lab.compute.create("act-vm", "tiny", "m1.nano", request=CreateRequest(networks=["act-net"]))
    lab.compute.wait_console("act-vm", "labcloud-tiny: ready", 240)
    return lab.floating_ips.create("act-pub").floating_ip_address


def _tear_down_the_actions_lab(lab: Lab) -> None:
    steps = [
        lambda: lab.compute.delete("act-vm"),
        lambda: lab.volumes.delete("act-vol"),
        *(lambda f=f: lab.floating_ips.delete(f.id) for f in lab.floating_ips.list()),
        lambda: lab.routers.set_gateway("act-r", None),
        lambda: lab.routers.remove_subnet("act-r", "act-sub"),
        lambda: lab.routers.delete("act-r"),
        lambda: lab.network.delete_network("act-pub"),
        lambda: lab.network.delete_network("act-net"),
    ]
    for rule in lab.security_groups.list_rules("default"):
        if rule.port_range_min == 2323:
            steps.append(lambda r=rule: lab.security_groups.delete_rule(r.id))
    for step in steps:
        with contextlib.suppress(LabError):
            step()


async def test_actions_on_existing_routers_floating_ips_volumes_and_rules(lab: Lab) -> None:
    fip = await asyncio.to_thread(_build_the_actions_lab, lab)
    app = LabApp(lab, start="routers")
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            # The router gets its interface and its gateway after it was made, from forms.
            select_row(pilot, "act-r")
            await pilot.press("a")
            await fill(pilot, subnet="act-sub")
            assert app.screen.cli_shown == "$ labcloud router add subnet act-r act-sub"
            await submit(pilot)
            await until(pilot, lambda: "10.78.0.1" in row(pilot, "act-r")[3], "the interface")
            await pilot.press("g")
            await fill(pilot, network="act-pub")
            assert app.screen.cli_shown == "$ labcloud router set act-r --external-gateway act-pub"
            await submit(pilot)
            await until(pilot, lambda: row(pilot, "act-r")[2] == "act-pub", "the gateway")

            # The floating IP goes onto the server's port, and comes off after a yes.
            await pilot.press("9")
            await until(pilot, lambda: row(pilot, fip) is not None, "the floating IP")
            select_row(pilot, fip)
            await pilot.press("a")
            await fill(pilot, server="act-vm")
            assert app.screen.cli_shown == f"$ labcloud server add floating ip act-vm {fip}"
            await submit(pilot)
            await until(pilot, lambda: row(pilot, fip)[4] == "act-vm", "the FIP on act-vm")
            assert row(pilot, fip)[3].startswith("10.78.0.")
            await pilot.press("x")
            await settle(pilot)
            assert isinstance(app.screen, ConfirmScreen)
            assert f"$ labcloud server remove floating ip act-vm {fip}" in screen_text(pilot)
            await pilot.press("y")
            await until(pilot, lambda: row(pilot, fip)[4] == "", "the FIP to be free")

            # The volume is attached (the guest sees the disk) and detached after a yes.
            await pilot.press("6")
            await until(pilot, lambda: row(pilot, "act-vol") is not None, "the volume")
            select_row(pilot, "act-vol")
            await pilot.press("a")
            await fill(pilot, server="act-vm", device="vda")
            assert "vda is the server's root disk" in screen_text(pilot)  # checked as typed
            await fill(pilot, device="vdb")
            wanted = "$ labcloud server add volume act-vm act-vol --device vdb"
            assert app.screen.cli_shown == wanted
            await submit(pilot)
            await until(pilot, lambda: row(pilot, "act-vol")[5] == "act-vm on /dev/vdb", "attached")
            await asyncio.to_thread(lab.compute.wait_console, "act-vm", "disk-added vdb", 120)
            await pilot.press("x")
            await settle(pilot)
            assert isinstance(app.screen, ConfirmScreen)
            await pilot.press("y")
            await until(pilot, lambda: row(pilot, "act-vol")[1] == "available", "detached", 240)
            assert row(pilot, "act-vol")[5] == ""
            await asyncio.to_thread(lab.compute.wait_console, "act-vm", "disk-removed", 120)

            # One rule of the default group is picked from its rules and removed.
            await pilot.press("8")
            await until(pilot, lambda: row(pilot, "default") is not None, "the default group")
            select_row(pilot, "default")
            await until(pilot, lambda: "tcp 2323" in screen_text(pilot), "the rule in the detail")
            await pilot.press("x")
            await settle(pilot)
            options = app.screen.query_one("#f-rule")._options
            rule_id = next(value for label, value in options if "tcp 2323" in str(label))
            await fill(pilot, rule=rule_id)
            assert app.screen.cli_shown == f"$ labcloud security group rule delete {rule_id}"
            await pilot.press("ctrl+s")
            await settle(pilot)
            assert isinstance(app.screen, ConfirmScreen)  # removing asks first
            await pilot.press("y")
            await until(pilot, lambda: app.screen is app.main, "the form to close", 120)
            await until(pilot, lambda: "tcp 2323" not in screen_text(pilot), "the rule to go")

            # The router loses its interface (a form, then a yes) and its gateway (a yes).
            await pilot.press("colon", *"routers", "enter")
            await until(pilot, lambda: row(pilot, "act-r") is not None, "the router")
            select_row(pilot, "act-r")
            await pilot.press("x")
            await fill(pilot, subnet="act-sub")
            assert app.screen.cli_shown == "$ labcloud router remove subnet act-r act-sub"
            await pilot.press("ctrl+s")
            await settle(pilot)
            assert isinstance(app.screen, ConfirmScreen)
            await pilot.press("y")
            await until(pilot, lambda: app.screen is app.main, "the form to close", 120)
            await until(pilot, lambda: "10.78.0.1" not in row(pilot, "act-r")[3], "no interface")
            await pilot.press("n")
            await settle(pilot)
            assert "$ labcloud router set act-r --no-external-gateway" in screen_text(pilot)
            await pilot.press("y")
            await until(pilot, lambda: row(pilot, "act-r")[2] == "", "no gateway")
    finally:
        await asyncio.to_thread(_tear_down_the_actions_lab, lab)
