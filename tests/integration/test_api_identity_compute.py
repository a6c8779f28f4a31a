"""The lab through OpenStack's own API: `labcloud serve` in a harness node (on the node's
loopback), driven by the real python-openstackclient and openstacksdk from PyPI.

An admin (alice, admin of the admin project) and a member (bob, of demo) log in with the
passwords they were given by `labcloud user set`, as a class would with DevStack's openrc.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.harness.node import Node, start_node
from tests.harness.requirements import require_root_and_tools
from tests.integration.identity_helpers import add_unix_users
from tests.integration.l3_helpers import make_net

OPENSTACK = str(Path(sys.executable).with_name("openstack"))
AUTH_URL = "http://127.0.0.1:5000/identity/v3"
PASSWORDS = {"alice": "alice-pw-1", "bob": "bob-pw-2"}


@dataclass
class Api:
    node: Node
    server: subprocess.Popen[str]
    clouds: Path

    def openstack(
        self, user: str, *args: str, password: str | None = None, project: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """The real `openstack` client in the node, as `user` (their cloud in clouds.yaml)."""
        env = {"OS_CLIENT_CONFIG_FILE": str(self.clouds), "OS_CLOUD": user}
        extra = ["--os-password", password] if password else []
        extra += ["--os-project-name", project] if project else []
        return self.node.run([OPENSTACK, *extra, *args], check=False, env=env, timeout=120)

    def ok(self, user: str, *args: str) -> str:
        out = self.openstack(user, *args)
        assert out.returncode == 0, out.stderr
        return out.stdout

    def python(self, code: str) -> subprocess.CompletedProcess[str]:
        env = {"OS_CLIENT_CONFIG_FILE": str(self.clouds)}
        return self.node.run(
            [sys.executable, "-c", textwrap.dedent(code)], check=False, env=env, timeout=120
        )


def _clouds(path: Path) -> None:
    clouds = {
        user: {
            "auth": {
                "auth_url": AUTH_URL,
                "username": user,
                "password": password,
                "project_name": project,
                "user_domain_name": "Default",
                "project_domain_name": "Default",
            },
            "region_name": "RegionOne",
            "identity_api_version": 3,
        }
        for (user, password), project in zip(PASSWORDS.items(), ("admin", "demo"), strict=True)
    }
    path.write_text(json.dumps({"clouds": clouds}))  # YAML is a superset of JSON


@pytest.fixture(scope="module")
def api() -> Iterator[Api]:
    require_root_and_tools()
    node = start_node("api")
    server = None
    try:
        add_unix_users(node, tuple(PASSWORDS))
        node.labcloud("init")
        node.labcloud("user", "create", "alice", "--project", "admin", "--role", "admin")
        node.labcloud("user", "create", "bob", "--project", "demo", "--role", "member")
        for user, password in PASSWORDS.items():
            node.labcloud("user", "set", user, "--password", password)
        log = (node.workdir / "serve.log").open("w")  # read it when a story fails
        server = node.popen(
            [str(Path(sys.executable).with_name("labcloud")), "serve"],
            env={"LABCLOUD_LAB": str(node.lab_file)},
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
        deadline = time.monotonic() + 60
        while node.labcloud("serve", "--check", check=False).returncode != 0:
            assert server.poll() is None, (node.workdir / "serve.log").read_text()
            assert time.monotonic() < deadline, "labcloud serve did not start"
            time.sleep(0.2)
        clouds = node.workdir / "clouds.yaml"
        _clouds(clouds)
        yield Api(node, server, clouds)
    finally:
        try:
            if server is not None and server.poll() is None:
                server.send_signal(signal.SIGTERM)
                server.wait(timeout=30)
        finally:
            print((node.workdir / "serve.log").read_text()[-3000:])
            node.stop()


def test_a_user_gets_a_token_scoped_to_their_project(api: Api) -> None:
    token = json.loads(api.ok("bob", "token", "issue", "-f", "json"))
    demo = json.loads(api.node.labcloud("project", "show", "demo", "-f", "json").stdout)
    assert token["project_id"] == demo["id"]
    assert len(token["id"]) >= 32
    assert token["expires"].endswith("+0000")


def test_a_wrong_password_or_a_foreign_project_is_a_401(api: Api) -> None:
    wrong = api.openstack("bob", "token", "issue", password="not-bobs")
    assert wrong.returncode == 1 and "HTTP 401" in wrong.stderr, wrong.stderr
    foreign = api.openstack("bob", "token", "issue", project="admin")
    assert foreign.returncode == 1 and "HTTP 401" in foreign.stderr, foreign.stderr


def test_the_flavors_are_the_labs_own(api: Api) -> None:
    listed = json.loads(api.ok("bob", "flavor", "list", "-f", "json"))
    cli = json.loads(api.node.labcloud("flavor", "list", "-f", "json").stdout)
    assert {(f["Name"], f["RAM"], f["VCPUs"]) for f in listed} == {
        (f["Name"], f["RAM"], f["VCPUs"]) for f in cli
    }
    tiny = json.loads(api.ok("bob", "flavor", "show", "m1.tiny", "-f", "json"))
    assert (tiny["ram"], tiny["disk"], tiny["vcpus"]) == (512, 1, 1)
    missing = api.openstack("bob", "flavor", "show", "no-such-flavor")
    assert missing.returncode == 1 and "No Flavor found" in missing.stderr


def test_an_admin_makes_a_flavor_and_the_cli_sees_it_but_a_member_may_not(api: Api) -> None:
    made = json.loads(
        api.ok("alice", "flavor", "create", "api.small", "--ram", "256", "--vcpus", "1",
               "--disk", "2", "-f", "json")
    )  # fmt: skip
    assert made["name"] == "api.small" and made["ram"] == 256
    shown = json.loads(api.node.labcloud("flavor", "show", "api.small", "-f", "json").stdout)
    assert shown["id"] == made["id"]
    refused = api.openstack("bob", "flavor", "create", "bobs", "--ram", "256", "--vcpus", "1")
    assert refused.returncode == 1 and "403" in refused.stderr, refused.stderr
    assert "needs the admin role" in refused.stderr
    assert api.node.labcloud("flavor", "show", "bobs", check=False).returncode != 0
    api.ok("alice", "flavor", "delete", "api.small")
    assert api.node.labcloud("flavor", "show", "api.small", check=False).returncode != 0


def test_openstacksdk_lists_and_finds_flavors(api: Api) -> None:
    out = api.python(
        """
        import openstack
        conn = openstack.connect(cloud="bob")
        names = sorted(f.name for f in conn.compute.flavors())
        small = conn.get_flavor("m1.small")
        print(names, small.ram, small.vcpus, small.extra_specs)
        """
    )
    assert out.returncode == 0, out.stderr
    assert "'m1.nano'" in out.stdout and "2048 1 {}" in out.stdout


def test_a_revoked_token_is_refused(api: Api) -> None:
    out = api.python(
        """
        import openstack
        from keystoneauth1 import exceptions
        conn = openstack.connect(cloud="bob")
        token = conn.auth_token
        conn.identity.delete("/auth/tokens", headers={"X-Subject-Token": token})
        try:
            conn.compute.get("/flavors", headers={"X-Auth-Token": token}, authenticated=False,
                             raise_exc=True)
        except exceptions.Unauthorized:
            print("refused")
        """
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "refused"


def test_bad_requests_get_openstacks_error_bodies_never_a_500(api: Api) -> None:
    out = api.python(
        """
        import json, urllib.request, urllib.error
        base = "http://127.0.0.1:5000"
        def call(method, path, body=None, headers=None):
            req = urllib.request.Request(base + path, data=body, method=method,
                                         headers=headers or {})
            try:
                with urllib.request.urlopen(req) as r:
                    return r.status, json.loads(r.read() or b"null")
            except urllib.error.HTTPError as e:
                return e.code, json.loads(e.read() or b"null")
        results = {
            "malformed": call("POST", "/identity/v3/auth/tokens", b"{not json"),
            "wrong_type": call("POST", "/identity/v3/auth/tokens",
                               b'{"auth": {"identity": {"methods": "password"}}}'),
            "no_token": call("GET", "/compute/v2.1/flavors"),
            "bad_token": call("GET", "/compute/v2.1/flavors", headers={"X-Auth-Token": "x"}),
            "traversal": call("GET", "/compute/v2.1/flavors/..%2f..%2fetc%2fpasswd",
                              headers={"X-Auth-Token": "x"}),
            "unknown_path": call("GET", "/compute/v2.1/no-such-thing"),
        }
        # A huge body is refused from its Content-Length, before it is sent.
        import socket
        with socket.create_connection(("127.0.0.1", 5000)) as sock:
            sock.sendall(b"POST /identity/v3/auth/tokens HTTP/1.1\\r\\nHost: x\\r\\n"
                         b"Content-Type: application/json\\r\\nContent-Length: 2097152\\r\\n\\r\\n")
            reply = sock.makefile("rb")
            status = int(reply.readline().split()[1])
            length = 0
            while (line := reply.readline().strip()):
                name, _, value = line.decode().partition(":")
                length = int(value) if name.lower() == "content-length" else length
            results["huge"] = [status, json.loads(reply.read(length))]
        print(json.dumps(results))
        """
    )
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    assert got["malformed"][0] == 400 and got["malformed"][1]["error"]["code"] == 400
    assert got["wrong_type"][0] == 400 and "methods" in got["wrong_type"][1]["error"]["message"]
    assert got["huge"][0] == 413
    assert got["no_token"][0] == 401 and got["no_token"][1]["unauthorized"]["code"] == 401
    assert got["bad_token"][0] == 401
    assert got["traversal"][0] in (401, 404)
    assert got["unknown_path"][0] == 404 and "itemNotFound" in got["unknown_path"][1]


def test_a_later_microversion_is_a_406_and_latest_is_2_1(api: Api) -> None:
    out = api.python(
        """
        import openstack
        conn = openstack.connect(cloud="bob")
        for asked in ("compute 2.95", "compute latest"):
            r = conn.compute.get("/flavors", headers={"OpenStack-API-Version": asked},
                                 raise_exc=False)
            print(r.status_code, r.headers.get("OpenStack-API-Version"))
        """
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[:2] == ["406 None", "200 compute 2.1"]


def test_labcloud_openrc_logs_the_openstack_client_in(api: Api) -> None:
    """`labcloud openrc`, sourced as DevStack's and Horizon's are: it asks for the password."""
    rc = api.node.labcloud("--project", "demo", "openrc", env={"SUDO_USER": "bob"}).stdout
    assert "OS_PASSWORD=" not in rc  # never written down
    script = api.node.workdir / "bob-openrc.sh"
    script.write_text(rc + "\n")
    out = api.node.run(
        ["bash", "-c", f". {script} && {OPENSTACK} token issue -f value -c project_id"],
        input=PASSWORDS["bob"] + "\n",
        env={"OS_CLIENT_CONFIG_FILE": "/nonexistent"},
    )
    demo = json.loads(api.node.labcloud("project", "show", "demo", "-f", "json").stdout)
    assert out.stdout.strip().splitlines()[-1] == demo["id"]


def test_images_networks_subnets_and_ports_are_the_labs_own(api: Api) -> None:
    """Glance and Neutron through the catalog: what `labcloud` made, the client lists."""
    api.node.labcloud("image", "create", "tiny", "--builtin")
    make_net(api.node, "apinet", "10.47.0.0/24")
    images = json.loads(api.ok("alice", "image", "list", "-f", "json"))
    assert "tiny" in {i["Name"] for i in images}
    tiny = json.loads(api.ok("alice", "image", "show", "tiny", "-f", "json"))
    assert tiny["disk_format"] == "ami" and tiny["status"] == "active"
    nets = {n["Name"]: n for n in json.loads(api.ok("alice", "network", "list", "-f", "json"))}
    subnet = json.loads(api.ok("alice", "subnet", "show", "apinet-sub", "-f", "json"))
    assert subnet["cidr"] == "10.47.0.0/24" and subnet["network_id"] == nets["apinet"]["ID"]
    assert nets["apinet"]["Subnets"] == [subnet["id"]]
    ports = json.loads(api.ok("alice", "port", "list", "--network", "apinet", "-f", "json"))
    cli_ports = json.loads(
        api.node.labcloud("port", "list", "--network", "apinet", "-f", "json").stdout
    )
    assert {p["ID"] for p in ports} == {p["ID"] for p in cli_ports}
    missing = api.openstack("alice", "network", "show", "no-such-net")
    assert missing.returncode == 1 and "No Network found" in missing.stderr, missing.stderr
    # bob, in demo, sees neither admin's network nor its ports.
    bobs = json.loads(api.ok("bob", "network", "list", "-f", "json"))
    assert "apinet" not in {n["Name"] for n in bobs}


def test_servers_booted_by_labcloud_are_listed_by_the_openstack_client(api: Api) -> None:
    if api.node.labcloud("image", "show", "tiny", check=False).returncode != 0:
        api.node.labcloud("image", "create", "tiny", "--builtin")
    make_net(api.node, "srvnet", "10.48.0.0/24")
    api.node.labcloud(
        "server", "create", "apiweb", "--image", "tiny", "--flavor", "m1.nano",
        "--network", "srvnet", "--wait",
    )  # fmt: skip
    try:
        rows = json.loads(api.ok("alice", "server", "list", "-f", "json"))
        row = next(r for r in rows if r["Name"] == "apiweb")
        assert row["Status"] == "ACTIVE"
        assert row["Image"] == "tiny" and row["Flavor"] == "m1.nano"
        shown = json.loads(api.ok("alice", "server", "show", "apiweb", "-f", "json"))
        port = json.loads(
            api.node.labcloud("port", "list", "--server", "apiweb", "-f", "json").stdout
        )[0]
        assert port["Fixed IP Addresses"].split("'")[1] in str(shown["addresses"])
        assert shown["OS-EXT-STS:power_state"] in ("Running", 1)
        missing = api.openstack("alice", "server", "show", "no-such-server")
        assert missing.returncode == 1 and "No Server found" in missing.stderr, missing.stderr
        # Another project's member does not see it, not even by its id.
        assert "apiweb" not in api.ok("bob", "server", "list", "-f", "value")
        hidden = api.openstack("bob", "server", "show", shown["id"])
        assert hidden.returncode == 1
    finally:
        api.node.labcloud("server", "delete", "apiweb", "--wait", check=False)

