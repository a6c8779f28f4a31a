"""Run inside a harness node: many stopped servers at once, copied from one real server.

`server list` syncs defined domains' states; it does not care how they were made. So the
nodes benchmark makes one real server with labcloud (the template), then:

    rows    --template NAME --count N --node NODE   (in the lab's node)
            adds N SHUTOFF rows like the template, placed on NODE; prints their ids.
    domains --xml FILE --ids FILE                   (in the node whose libvirtd holds them)
            defines a copy of the template's domain XML per id: name labcloud-<id>, that
            UUID. They are never started (their disk is the template's).

Seconds for hundreds, where creating each through compute takes one or two. Self-contained
on purpose: it runs with the venv's python inside the node, by path.
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid as uuidlib
import xml.etree.ElementTree as ET


def rows(template: str, count: int, node: str, prefix: str) -> list[str]:
    from labcloud.db.models import Server
    from labcloud.lab import Lab

    lab = Lab.open()
    base = lab.compute.get(template, sync=False)
    ids = [str(uuidlib.uuid4()) for _ in range(count)]
    skip = {"id", "name", "domain_name", "node", "status", "power_state", "task_state"}
    fields = {k: v for k, v in base.model_dump().items() if k not in skip}
    with lab.store.write() as s:
        for n, server_id in enumerate(ids):
            s.add(
                Server(
                    **fields,
                    id=server_id,
                    name=f"{prefix}{n:04d}",
                    domain_name=f"labcloud-{server_id}",
                    node=node,
                    status="SHUTOFF",
                    power_state="SHUTDOWN",
                    task_state=None,
                )
            )
    return ids


def domains(xml_file: str, ids: list[str]) -> int:
    import libvirt

    conn = libvirt.open("qemu:///system")
    template = ET.parse(xml_file).getroot()
    for server_id in ids:
        root = ET.fromstring(ET.tostring(template))
        root.find("name").text = f"labcloud-{server_id}"  # type: ignore[union-attr]
        root.find("uuid").text = server_id  # type: ignore[union-attr]
        for iface in root.findall("./devices/interface"):
            mac = iface.find("mac")
            if mac is not None:
                iface.remove(mac)  # libvirt gives each copy its own
        conn.defineXML(ET.tostring(root, encoding="unicode"))
    conn.close()
    return len(ids)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("mode", choices=("rows", "domains"))
    p.add_argument("--template")
    p.add_argument("--count", type=int, default=0)
    p.add_argument("--node", default="local")
    p.add_argument("--prefix", default="bulk-")
    p.add_argument("--xml")
    p.add_argument("--ids")
    a = p.parse_args()
    if a.mode == "rows":
        json.dump(rows(a.template, a.count, a.node, a.prefix), sys.stdout)
    else:
        with open(a.ids) as f:
            json.dump({"defined": domains(a.xml, json.load(f))}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
