"""What already exists in the lab, by kind: names and IDs, one list call per kind.

Plan asks it whether a referenced name exists, whether an owned ID is still there, and
whether a name it wants to create is taken by something that is not the stack's.
"""

from __future__ import annotations

from typing import Any

from labcloud.services.l3 import DEFAULT

LISTERS = {
    "flavor": lambda lab: lab.flavors.list(),
    "image": lambda lab: lab.images.list(),
    "keypair": lambda lab: lab.keypairs.list(),
    "network": lambda lab: lab.network.list_networks(),
    "subnet": lambda lab: lab.network.list_subnets(),
    "router": lambda lab: lab.routers.list(),
    "security_group": lambda lab: lab.security_groups.list(),
    "volume": lambda lab: lab.volumes.list(),
    "server": lambda lab: lab.compute.list(sync=False),
    "floating_ip": lambda lab: lab.floating_ips.list(),
    "project": lambda lab: lab.identity.list_projects(),
    "user": lambda lab: [user for user, _roles in lab.identity.list_users()],
}


class Catalog:
    def __init__(self, lab: Any) -> None:
        self.lab = lab
        self._names: dict[str, dict[str, str]] = {}

    def names(self, kind: str) -> dict[str, str]:
        """name -> ID of every resource of a kind the project can see."""
        if kind not in self._names:
            lister = LISTERS.get(kind)
            rows = lister(self.lab) if lister else []
            self._names[kind] = {r.name: r.id for r in rows}
            if kind == "security_group":
                self._names[kind].setdefault(DEFAULT, "")  # made on first use
        return self._names[kind]

    def exists(self, kind: str, name: str) -> bool:
        return name in self.names(kind)

    def has_id(self, kind: str, resource_id: str) -> bool:
        # A quota's ID is its project's: it exists as long as the project does.
        return resource_id in self.names("project" if kind == "quota" else kind).values()

    def forget(self, kind: str) -> None:
        self._names.pop(kind, None)
