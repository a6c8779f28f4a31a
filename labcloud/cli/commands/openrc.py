"""openrc, clouds-yaml: what the openstack client needs to reach `labcloud serve`"""

from __future__ import annotations

import json
import shlex
from typing import TYPE_CHECKING, Any

from labcloud.cli.registry import command

if TYPE_CHECKING:
    from labcloud.lab import Lab


@command(
    "openrc",
    help="Print an openrc for you in this project (it asks for your password when sourced)",
    example="labcloud --project demo openrc > demo-openrc.sh && . ./demo-openrc.sh",
)
def openrc(lab: Lab, a: Any) -> str:
    c = lab.identity.api_credentials()
    lines = [
        f"export OS_AUTH_URL={shlex.quote(c['auth_url'])}",
        "export OS_IDENTITY_API_VERSION=3",
        f"export OS_USERNAME={shlex.quote(c['username'])}",
        f"export OS_PROJECT_NAME={shlex.quote(c['project_name'])}",
        f"export OS_USER_DOMAIN_NAME={c['user_domain_name']}",
        f"export OS_PROJECT_DOMAIN_NAME={c['project_domain_name']}",
        f"export OS_REGION_NAME={c['region_name']}",
        "unset OS_CLOUD",
        # As Horizon's openrc: the password is asked for, never written down.
        'printf "Password for %s in project %s: " "$OS_USERNAME" "$OS_PROJECT_NAME"',
        "read -rs OS_PASSWORD && export OS_PASSWORD && echo",
    ]
    return "\n".join(lines)


@command(
    "clouds-yaml",
    help="Print a clouds.yaml with a cloud `labcloud` for you in this project",
    example="labcloud clouds-yaml > ~/.config/openstack/clouds.yaml",
)
def clouds_yaml(lab: Lab, a: Any) -> str:
    c = lab.identity.api_credentials()
    auth = {k: c[k] for k in ("auth_url", "username", "project_name")}
    auth |= {k: c[k] for k in ("user_domain_name", "project_domain_name")}
    cloud = {"auth": auth, "region_name": c["region_name"], "identity_api_version": 3}
    # JSON is YAML; the client asks for the password (or give OS_PASSWORD).
    return json.dumps({"clouds": {"labcloud": cloud}}, indent=2)
