"""The create forms of every view: fields, the equivalent command line, the service call.

Each `submit` runs in a worker thread and calls one service through the lab, exactly as
the CLI command it shows does; a refusal is the service's own one-line LabError.
"""

from __future__ import annotations

import os
from typing import Any

from labcloud.screens.forms import (
    Field,
    Form,
    Report,
    Values,
    cli_line,
    flag,
    int_check,
    name_check,
)

from labcloud.errors import UsageError
from labcloud.services.core import CreateRequest
from labcloud.services.l3 import RuleRequest, parse_port_range
from labcloud.services.network import parse_cidr

MAX_USER_DATA = 64 * 1024


def _images(lab: Any) -> list[tuple[str, str]]:
    return [
        (f"{i.name} ({i.disk_format})", i.name) for i in lab.images.list() if i.status == "active"
    ]


def _flavors(lab: Any) -> list[tuple[str, str]]:
    return [(f"{f.name} ({f.vcpus} vCPU, {f.ram} MiB)", f.name) for f in lab.flavors.list()]


def _networks(lab: Any, external: bool | None = None) -> list[tuple[str, str]]:
    nets = lab.network.list_networks()
    return [(n.name, n.name) for n in nets if external is None or n.external == external]


def _keypairs(lab: Any) -> list[tuple[str, str]]:
    return [(k.name, k.name) for k in lab.keypairs.list()]


def _names(values: Values, count: int) -> list[str]:
    name = values["name"]
    return [name] if count <= 1 else [f"{name}-{i}" for i in range(1, count + 1)]


# -- servers ------
def _server_argv(values: Values, name: str) -> list[str]:
    argv = ["server", "create", name, "--image", values["image"], "--flavor", values["flavor"]]
    flag(argv, "--network", values["networks"])
    flag(argv, "--key-name", values["key"])
    if values["user_data"].strip():
        argv += ["--user-data", "user-data.yaml"]
    return argv


def _server_cli(values: Values) -> str:
    count = int(values["count"] or 1)
    names = _names(values, count)
    line = cli_line(_server_argv(values, names[0]))
    return line + (f"   (then {', '.join(names[1:])})" if count > 1 else "")


def _server_submit(lab: Any, values: Values, report: Report) -> str:
    count = int(values["count"] or 1)
    user_data = values["user_data"].encode()
    if len(user_data) > MAX_USER_DATA:
        raise UsageError(f"user-data is larger than {MAX_USER_DATA // 1024} KiB")
    made = []
    for done, name in enumerate(_names(values, count)):
        report(done, count)
        request = CreateRequest(
            networks=list(values["networks"]),
            key_name=values["key"] or None,
            user_data=user_data if values["user_data"].strip() else None,
        )
        made.append(
            lab.compute.create(name, values["image"], values["flavor"], request=request).name
        )
    report(count, count)
    return f"server {', '.join(made)} created"


def server_form() -> Form:
    return Form(
        "New server",
        [
            Field("name", "Name", required=True, check=name_check("server name")),
            Field("image", "Image", "select", "tiny", required=True, choices=_images),
            Field("flavor", "Flavor", "select", "m1.nano", required=True, choices=_flavors),
            Field("networks", "Networks", "multi", choices=_networks),
            Field("key", "Keypair", "select", choices=_keypairs),
            Field("count", "Count", default="1", check=int_check("count")),
            Field("user_data", "User data (cloud-init)", "area"),
        ],
        _server_cli,
        _server_submit,
        progress=True,
    )


# -- networks and subnets ------
def _cidr_check(text: str) -> None:
    if text:
        parse_cidr(text)


def _provider_types(_lab: Any) -> list[tuple[str, str]]:
    return [
        ("vxlan (an overlay)", "vxlan"),
        ("flat (no tag; for external)", "flat"),
        ("vlan", "vlan"),
    ]


def _network_cli(values: Values) -> str:
    argv = ["network", "create", values["name"]]
    flag(argv, "--provider-network-type", values["provider"])
    flag(argv, "--external", values["external"])
    flag(argv, "--share", values["shared"])
    line = cli_line(argv)
    if values["cidr"]:
        sub = ["subnet", "create", values["subnet"] or f"{values['name']}-subnet"]
        sub += ["--network", values["name"], "--subnet-range", values["cidr"]]
        line += " && " + cli_line(sub)
    return line


def _network_submit(lab: Any, values: Values, report: Report) -> str:
    net = lab.network.create_network(
        values["name"],
        provider_network_type=values["provider"] or None,
        external=values["external"],
        shared=values["shared"],
    )
    if not values["cidr"]:
        return f"network {net.name} created"
    name = values["subnet"] or f"{net.name}-subnet"
    try:
        sub = lab.network.create_subnet(name, net.id, values["cidr"])
    except Exception:
        lab.network.delete_network(net.id)  # nothing half-made: the network goes too
        raise
    return f"network {net.name} created with subnet {sub.name} {sub.cidr}"


def network_form() -> Form:
    return Form(
        "New network",
        [
            Field("name", "Name", required=True, check=name_check("network name")),
            Field(
                "cidr",
                "Subnet range (empty: no subnet)",
                placeholder="10.0.0.0/24",
                check=_cidr_check,
            ),
            Field(
                "subnet", "Subnet name", placeholder="NAME-subnet", check=name_check("subnet name")
            ),
            Field("provider", "Provider type (default vxlan)", "select", choices=_provider_types),
            Field("external", "External (routers' gateway, floating IPs)", "check", False),
            Field("shared", "Shared with every project", "check", False),
        ],
        _network_cli,
        _network_submit,
    )


# -- routers ------
def _router_cli(values: Values) -> str:
    line = cli_line(["router", "create", values["name"]])
    if values["gateway"]:
        line += " && " + cli_line(
            ["router", "set", values["name"], "--external-gateway", values["gateway"]]
        )
    for sub in values["subnets"]:
        line += " && " + cli_line(["router", "add", "subnet", values["name"], sub])
    return line


def _router_submit(lab: Any, values: Values, report: Report) -> str:
    router = lab.routers.create(values["name"])
    try:
        if values["gateway"]:
            lab.routers.set_gateway(router.id, values["gateway"])
        for sub in values["subnets"]:
            lab.routers.add_subnet(router.id, sub)
    except Exception:
        lab.routers.delete(router.id)
        raise
    return f"router {router.name} created"


def _subnets(lab: Any) -> list[tuple[str, str]]:
    return [(f"{s.name} {s.cidr}", s.name) for s in lab.network.list_subnets()]


def router_form() -> Form:
    return Form(
        "New router",
        [
            Field("name", "Name", required=True, check=name_check("router name")),
            Field(
                "gateway",
                "External gateway network",
                "select",
                choices=lambda lab: _networks(lab, True),
            ),
            Field("subnets", "Subnets to connect", "multi", choices=_subnets),
        ],
        _router_cli,
        _router_submit,
    )


# -- volumes ------
def _volume_cli(values: Values) -> str:
    argv = ["volume", "create", values["name"]]
    flag(argv, "--size", values["size"])
    flag(argv, "--image", values["image"])
    return cli_line(argv)


def _volume_submit(lab: Any, values: Values, report: Report) -> str:
    size = int(values["size"]) if values["size"] else None
    vol = lab.volumes.create(values["name"], size, image=values["image"] or None)
    return f"volume {vol.name} created ({vol.size} GiB, {vol.status})"


def volume_form() -> Form:
    return Form(
        "New volume",
        [
            Field("name", "Name", required=True, check=name_check("volume name")),
            Field("size", "Size (GiB)", default="1", check=int_check("size")),
            Field("image", "From image (optional)", "select", choices=_images),
        ],
        _volume_cli,
        _volume_submit,
    )


# -- images ------
def _file_check(text: str) -> None:
    if text and not os.path.isfile(text):
        raise UsageError(f"{text}: no such file")


def _image_cli(values: Values) -> str:
    argv = ["image", "create", values["name"], "--file", values["file"]]
    flag(argv, "--public", values["public"])
    flag(argv, "--protected", values["protected"])
    return cli_line(argv)


def _image_submit(lab: Any, values: Values, report: Report) -> str:
    image = lab.images.create(
        values["name"],
        values["file"],
        visibility="public" if values["public"] else "private",
        protected=values["protected"],
        progress=report,
    )
    return f"image {image.name} imported ({image.disk_format}, {image.status})"


def image_form() -> Form:
    return Form(
        "Import an image from a file",
        [
            Field("name", "Name", required=True, check=name_check("image name")),
            Field(
                "file", "File", required=True, placeholder="/path/to/disk.qcow2", check=_file_check
            ),
            Field("public", "Public", "check", False),
            Field("protected", "Protected (refuses deletion)", "check", False),
        ],
        _image_cli,
        _image_submit,
        verb="Import",
        progress=True,
    )


# -- keypairs ------
def _keypair_cli(values: Values) -> str:
    argv = ["keypair", "create", values["name"]]
    if values["public_key"].strip():
        argv += ["--public-key", "key.pub"]
    flag(argv, "--private-key", values["private_file"])
    return cli_line(argv)


def _keypair_submit(lab: Any, values: Values, report: Report) -> str:
    public = values["public_key"].strip() or None
    path = values["private_file"]
    if public and path:
        raise UsageError("a private key file goes with a generated key, not a pasted public key")
    made = lab.keypairs.create(values["name"], public)
    if public is None and path:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except OSError as exc:
            lab.keypairs.delete(made.keypair.id)
            raise UsageError(f"{path}: {exc.strerror or exc}") from None
        with os.fdopen(fd, "w") as out:
            out.write(made.private_key)
        return f"keypair {made.keypair.name} created; private key in {path}"
    return f"keypair {made.keypair.name} created ({made.keypair.fingerprint})"


def keypair_form() -> Form:
    return Form(
        "New keypair",
        [
            Field("name", "Name", required=True, check=name_check("keypair name")),
            Field("public_key", "Public key to import (empty: generate one)", "area"),
            Field(
                "private_file", "Write the generated private key to", placeholder="~/.ssh/lab_key"
            ),
        ],
        _keypair_cli,
        _keypair_submit,
    )


# -- floating IPs ----------------------------------------------------------------------------------
def _fip_cli(values: Values) -> str:
    argv = ["floating", "ip", "create", values["network"]]
    flag(argv, "--floating-ip-address", values["address"])
    return cli_line(argv)


def _fip_submit(lab: Any, values: Values, report: Report) -> str:
    fip = lab.floating_ips.create(values["network"], values["address"] or None)
    return f"floating IP {fip.floating_ip_address} allocated"


def floating_ip_form() -> Form:
    return Form(
        "New floating IP",
        [
            Field(
                "network",
                "External network",
                "select",
                required=True,
                choices=lambda lab: _networks(lab, True),
            ),
            Field("address", "Address (empty: the next free one)"),
        ],
        _fip_cli,
        _fip_submit,
    )


# -- security group rules ------
def _groups(lab: Any) -> list[tuple[str, str]]:
    return [(g.name, g.name) for g in lab.security_groups.list()]


def _protocols(_lab: Any) -> list[tuple[str, str]]:
    return [(p, p) for p in ("tcp", "udp", "icmp", "any")]


def _ports_check(text: str) -> None:
    if text:
        parse_port_range(text, "tcp")


def _rule_cli(values: Values) -> str:
    argv = [
        "security",
        "group",
        "rule",
        "create",
        values["group"],
        "--protocol",
        values["protocol"],
    ]
    flag(argv, "--dst-port", values["ports"])
    flag(argv, "--remote-ip", values["remote"])
    if values["egress"]:
        argv.append("--egress")
    return cli_line(argv)


def _rule_submit(lab: Any, values: Values, report: Report) -> str:
    req = RuleRequest(
        protocol=values["protocol"] or "any",
        dst_port=values["ports"] or None,
        direction="egress" if values["egress"] else "ingress",
        remote_ip=values["remote"] or None,
    )
    rule = lab.security_groups.create_rule(values["group"], req)
    return f"rule {rule.id[:8]} added to {values['group']}"


def rule_form(group: str = "") -> Form:
    return Form(
        "New security group rule",
        [
            Field("group", "Security group", "select", group, required=True, choices=_groups),
            Field("protocol", "Protocol", "select", "tcp", choices=_protocols),
            Field("ports", "Port or range", placeholder="22 or 8000:8080", check=_ports_check),
            Field(
                "remote", "From (CIDR, empty: anywhere)", placeholder="0.0.0.0/0", check=_cidr_check
            ),
            Field("egress", "Egress (outgoing) instead of ingress", "check", False),
        ],
        _rule_cli,
        _rule_submit,
    )
