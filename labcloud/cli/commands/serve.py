"""serve: the lab's OpenStack API (labcloud/api/)"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from labcloud.cli.output import Record
from labcloud.cli.registry import arg, command
from labcloud.errors import Unavailable

if TYPE_CHECKING:
    from labcloud.lab import Lab


@command(
    "serve",
    help="Serve OpenStack's API for the lab (Keystone, Nova) in the foreground",
    example="labcloud serve --check",
    args=(arg("--check", action="store_true", help="only say whether it runs, and where"),),
)
def serve(lab: Lab, a: Any) -> Record | str:
    # Imported here: the API's server and WSGI stack are not loaded by other commands.
    from labcloud.api import serve as api

    auth_url = lab.config.api.auth_url
    if a.check:
        if not api.check(lab.config):
            raise Unavailable(
                f"labcloud serve does not answer on {auth_url}", "start it: labcloud serve"
            )
        return Record({"running": True, "auth_url": auth_url})
    api.serve(lab)
    return "labcloud serve: stopped"
