"""lab.toml: found, read with tomllib and validated into typed models.

An error names the key path and says what is wrong.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from labcloud.errors import ConfigError
from labcloud.names import check_name
from labcloud.tui_keys import check_action, check_keys

SEARCH_ORDER_HELP = "--lab, $LABCLOUD_LAB, ./lab.toml, /etc/labcloud/lab.toml"


def _checked_name(value: str) -> str:
    try:
        return check_name(value)
    except Exception as exc:  # LabError -> pydantic's ValueError, so the key path is kept
        raise ValueError(str(exc)) from None


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SiteConfig(_Strict):
    state_dir: Path = Path("/var/lib/labcloud")
    libvirt_uri: str = "qemu:///system"
    virt_type: Literal["auto", "kvm", "qemu"] = "auto"
    # "none": a state-only lab that loads no nftables, makes no interfaces and starts no
    # daemons on this machine (labcloud/host_side.py); the unit tests use it.
    host_agent: Literal["local", "none"] = "local"
    default_project: str = "admin"
    # Seconds a graceful stop waits for the guest before powering it off.
    shutdown_timeout: float = Field(default=30.0, gt=0, le=3600)

    @field_validator("state_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        if not value.is_absolute():
            raise ValueError("must be an absolute path")
        return value

    @field_validator("libvirt_uri")
    @classmethod
    def _uri(cls, value: str) -> str:
        if "://" not in value or any(c.isspace() for c in value):
            raise ValueError("must be a libvirt URI such as qemu:///system")
        return value


class FlavorConfig(_Strict):
    name: str
    vcpus: int = Field(ge=1, le=256)
    ram: int = Field(ge=64, le=4 * 1024 * 1024, description="MiB")
    disk: int = Field(ge=0, le=65536, description="GiB")
    ephemeral: int = Field(default=0, ge=0, le=65536)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _checked_name(value)


class ProjectConfig(_Strict):
    name: str
    description: str = ""

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _checked_name(value)


class QuotasConfig(_Strict):
    """[quotas]: each project's limits until `quota set` changes them; -1 is unlimited.
    The defaults are OpenStack's."""

    instances: int = Field(default=10, ge=-1)
    cores: int = Field(default=20, ge=-1)
    ram: int = Field(default=51200, ge=-1, description="MiB")
    volumes: int = Field(default=10, ge=-1)
    gigabytes: int = Field(default=1000, ge=-1)
    snapshots: int = Field(default=10, ge=-1)
    networks: int = Field(default=100, ge=-1)
    subnets: int = Field(default=100, ge=-1)
    ports: int = Field(default=500, ge=-1)
    routers: int = Field(default=10, ge=-1)
    floating_ips: int = Field(default=50, ge=-1)
    security_groups: int = Field(default=10, ge=-1)
    security_group_rules: int = Field(default=100, ge=-1)


class UserConfig(_Strict):
    """[[users]]: a labcloud user (a unix account of that name) and its roles by project."""

    name: str
    description: str = ""
    roles: dict[str, Literal["admin", "member", "reader"]] = {}

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _checked_name(value)


_IFNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$")


class NetworksConfig(_Strict):
    """[networks]: physical networks (name -> host interface) and the VXLAN settings."""

    # physnet name -> the host interface a flat/vlan/external network's bridge uplinks to.
    physical_networks: dict[str, str] = {}
    # VNIs handed to vxlan networks created without --provider-segment.
    vni_range: tuple[int, int] = (1000, 1999)
    # This node's VTEP address (the VXLAN source) and the remote VTEPs it floods to.
    local_ip: str | None = None
    vxlan_peers: tuple[str, ...] = ()
    vxlan_port: int = Field(default=4789, ge=1, le=65535)
    default_mtu: int = Field(default=1500, ge=68, le=9000)

    @field_validator("physical_networks")
    @classmethod
    def _physnets(cls, value: dict[str, str]) -> dict[str, str]:
        for physnet, iface in value.items():
            _checked_name(physnet)
            if not _IFNAME_RE.fullmatch(iface):
                raise ValueError(
                    f"interface {iface!r} for {physnet!r} is not a valid interface name "
                    "(1-15 letters, digits, '.', '_' or '-')"
                )
        return value

    @field_validator("vni_range")
    @classmethod
    def _vnis(cls, value: tuple[int, int]) -> tuple[int, int]:
        low, high = value
        if not 1 <= low <= high <= 16777215:
            raise ValueError("must be [low, high] with 1 <= low <= high <= 16777215")
        return value

    @field_validator("local_ip", "vxlan_peers")
    @classmethod
    def _addresses(cls, value: str | tuple[str, ...] | None) -> str | tuple[str, ...] | None:
        for addr in (value,) if isinstance(value, str) else value or ():
            try:
                ipaddress.ip_address(addr)
            except ValueError:
                raise ValueError(f"{addr!r} is not an IP address") from None
        return value


# LVM's own rule for VG and LV names: letters, digits, '+', '_', '.', '-'; no leading '-'.
_LVM_NAME_RE = re.compile(r"^[A-Za-z0-9+_.][A-Za-z0-9+_.-]{0,63}$")


def _lvm_name(value: str | None) -> str | None:
    if value is not None and not _LVM_NAME_RE.fullmatch(value):
        raise ValueError(f"{value!r} is not a valid LVM name (letters, digits, '+_.-')")
    return value


class VolumeBackendConfig(_Strict):
    """[volume_backends.NAME]: one backend, which is also a volume type (`--type NAME`).

    type "file": qcow2 or raw files, under state_dir/volumes/NAME unless `path` is given.
    type "lvm": LVs in volume group `vg`; thin volumes when `thin_pool` is set. `loop_file`
    makes the VG on a sparse file through a loop device, for a lab without a spare disk
    (created on first use, idempotently).
    """

    type: Literal["file", "lvm"]
    format: Literal["qcow2", "raw"] | None = None  # file only; qcow2 by default
    path: Path | None = None  # file only
    vg: str | None = None  # lvm only, required
    thin_pool: str | None = None  # lvm only
    loop_file: Path | None = None  # lvm only
    loop_size_gb: int | None = Field(default=None, ge=1, le=65536)  # lvm with loop_file

    @field_validator("vg", "thin_pool")
    @classmethod
    def _names(cls, value: str | None) -> str | None:
        return _lvm_name(value)

    @field_validator("path", "loop_file")
    @classmethod
    def _absolute(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_absolute():
            raise ValueError("must be an absolute path")
        return value

    @model_validator(mode="after")
    def _fits_type(self) -> VolumeBackendConfig:
        only = {
            "file": ("format", "path"),
            "lvm": ("vg", "thin_pool", "loop_file", "loop_size_gb"),
        }
        for kind, keys in only.items():
            if kind != self.type:
                for key in keys:
                    if getattr(self, key) is not None:
                        raise ValueError(f"{key} is not a setting of a {self.type} backend")
        if self.type == "lvm" and not self.vg:
            raise ValueError('an lvm backend needs vg = "VOLUME-GROUP"')
        if self.loop_size_gb is not None and self.loop_file is None:
            raise ValueError("loop_size_gb goes with loop_file")
        return self


DEFAULT_VOLUME_BACKENDS: dict[str, VolumeBackendConfig] = {"file": VolumeBackendConfig(type="file")}


class VolumesConfig(_Strict):
    """[volumes]: the backend (volume type) a volume gets when --type is not given."""

    default_type: str = "file"


NodeRole = Literal["control", "compute", "network", "storage"]
NODE_ROLES: tuple[NodeRole, ...] = ("control", "compute", "network", "storage")
_HOST_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.:-]{0,252})$")
_FINGERPRINT_RE = re.compile(r"^SHA256:[A-Za-z0-9+/]{43}$")


class NodeConfig(_Strict):
    """[[nodes]]: a machine labcloud drives over SSH (`labcloud init` enrols it)."""

    name: str
    host: str
    port: int = Field(default=22, ge=1, le=65535)
    user: str = "root"
    key: Path | None = None  # private key file; without it, the SSH agent's keys
    roles: tuple[NodeRole, ...] = ("compute",)
    availability_zone: str = "nova"
    libvirt_uri: str = "qemu:///system"  # as seen on the node
    # The host key's SHA256 fingerprint, checked on the node's console: enrolment pins it.
    fingerprint: str | None = None

    @field_validator("name", "availability_zone")
    @classmethod
    def _name(cls, value: str) -> str:
        return _checked_name(value)

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        if not _HOST_RE.fullmatch(value):
            raise ValueError(f"{value!r} is not a host name or IP address")
        return value

    @field_validator("fingerprint")
    @classmethod
    def _fingerprint(cls, value: str | None) -> str | None:
        if value is not None and not _FINGERPRINT_RE.fullmatch(value):
            raise ValueError("must look like SHA256:<43 base64 characters> (ssh-keygen -lf)")
        return value


class LocalNodeConfig(_Strict):
    """[local_node]: what the machine labcloud runs on does, as a node named "local"."""

    roles: tuple[NodeRole, ...] = NODE_ROLES
    availability_zone: str = "nova"


class SchedulerConfig(_Strict):
    """[scheduler]: Nova's filter scheduler. spread puts a server on the node with the
    most free RAM, pack on the one with the least that still fits."""

    policy: Literal["spread", "pack"] = "spread"
    cpu_allocation_ratio: float = Field(default=4.0, gt=0, le=1024)
    ram_allocation_ratio: float = Field(default=1.0, gt=0, le=16)
    disk_allocation_ratio: float = Field(default=1.0, gt=0, le=16)


# OpenStack's default flavors, plus devstack's m1.nano for tiny test guests.
DEFAULT_FLAVORS: tuple[FlavorConfig, ...] = (
    FlavorConfig(name="m1.nano", vcpus=1, ram=128, disk=1),
    FlavorConfig(name="m1.tiny", vcpus=1, ram=512, disk=1),
    FlavorConfig(name="m1.small", vcpus=1, ram=2048, disk=20),
    FlavorConfig(name="m1.medium", vcpus=2, ram=4096, disk=40),
    FlavorConfig(name="m1.large", vcpus=4, ram=8192, disk=80),
    FlavorConfig(name="m1.xlarge", vcpus=8, ram=16384, disk=160),
)
DEFAULT_PROJECTS: tuple[ProjectConfig, ...] = (
    ProjectConfig(name="admin", description="Administrators' project"),
    ProjectConfig(name="demo", description="A project for trying things out"),
)


class ApiConfig(_Strict):
    """`labcloud serve`: OpenStack's API for the lab, on one port (DevStack's paths)."""

    bind: str = "127.0.0.1"  # loopback only unless the admin opens it
    port: int = Field(default=5000, ge=1, le=65535)  # Keystone's port
    token_hours: float = Field(default=1.0, gt=0, le=24 * 30)  # as Keystone: an hour

    @property
    def url(self) -> str:
        """Where the API answers, e.g. http://127.0.0.1:5000 (IPv6 in brackets)."""
        host = f"[{self.bind}]" if ":" in self.bind else self.bind
        return f"http://{host}:{self.port}"

    @property
    def auth_url(self) -> str:
        """What the openstack client is given as OS_AUTH_URL."""
        return f"{self.url}/identity/v3"

    @field_validator("bind")
    @classmethod
    def _address(cls, value: str) -> str:
        try:
            return str(ipaddress.ip_address(value))
        except ValueError:
            raise ValueError("must be an IP address such as 127.0.0.1") from None


class TuiConfig(_Strict):
    """[tui]: keys maps an action id (as `?` shows it) to its keys, e.g. "server.stop" = "x";
    theme is "light" for a light terminal background (Textual's textual-light)."""

    theme: Literal["dark", "light"] = "dark"
    keys: dict[
        Annotated[str, AfterValidator(check_action)], Annotated[str, AfterValidator(check_keys)]
    ] = {}


class LabConfig(_Strict):
    site: SiteConfig = SiteConfig()
    flavors: tuple[FlavorConfig, ...] = DEFAULT_FLAVORS
    projects: tuple[ProjectConfig, ...] = DEFAULT_PROJECTS
    quotas: QuotasConfig = QuotasConfig()
    users: tuple[UserConfig, ...] = ()
    networks: NetworksConfig = NetworksConfig()
    volume_backends: dict[str, VolumeBackendConfig] = DEFAULT_VOLUME_BACKENDS
    volumes: VolumesConfig = VolumesConfig()
    nodes: tuple[NodeConfig, ...] = ()
    local_node: LocalNodeConfig = LocalNodeConfig()
    scheduler: SchedulerConfig = SchedulerConfig()
    tui: TuiConfig = TuiConfig()
    api: ApiConfig = ApiConfig()
    source: Path | None = Field(default=None, exclude=True)

    @field_validator("volume_backends")
    @classmethod
    def _backend_names(cls, value: dict[str, object]) -> dict[str, object]:
        for name in value:
            _checked_name(name)
        return value

    @field_validator("volumes")
    @classmethod
    def _default_type(cls, value: VolumesConfig, info: ValidationInfo) -> VolumesConfig:
        backends = info.data.get("volume_backends")
        if backends is not None and value.default_type not in backends:
            raise ValueError(
                f"default_type {value.default_type!r} is not one of [volume_backends]: "
                + ", ".join(sorted(backends))
            )
        return value

    @field_validator("users")
    @classmethod
    def _user_projects(cls, value: tuple[UserConfig, ...], info: ValidationInfo) -> tuple:
        projects = {p.name for p in info.data.get("projects", ())}
        for user in value:
            for project in user.roles:
                if project not in projects:
                    raise ValueError(
                        f"user {user.name!r} has a role in {project!r}, which is not in "
                        "[[projects]]"
                    )
        return value

    @field_validator("flavors", "projects", "users", "nodes")
    @classmethod
    def _unique(
        cls, value: tuple[FlavorConfig | ProjectConfig | UserConfig | NodeConfig, ...]
    ) -> tuple:
        seen: set[str] = set()
        for item in value:
            if item.name in seen:
                raise ValueError(f"duplicate name {item.name!r}")
            seen.add(item.name)
        return value


def find_lab_file(explicit: str | None = None) -> Path | None:
    """The lab file, in the documented search order; None when there is none."""
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise ConfigError(f"lab file {explicit} does not exist", "check the --lab path")
        return path
    env = os.environ.get("LABCLOUD_LAB")
    if env:
        path = Path(env)
        if not path.is_file():
            raise ConfigError(
                f"lab file {env} from $LABCLOUD_LAB does not exist", "fix or unset LABCLOUD_LAB"
            )
        return path
    for candidate in (Path("lab.toml"), Path("/etc/labcloud/lab.toml")):
        if candidate.is_file():
            return candidate
    return None


def load_config(explicit: str | None = None) -> LabConfig:
    path = find_lab_file(explicit)
    if path is None:
        raise ConfigError("no lab.toml found", f"looked in {SEARCH_ORDER_HELP}")
    return parse_config(path.read_bytes(), path)


# Tables of lab.toml that declare a stack (`labcloud stack apply`), not the lab's settings:
# the stack schema (services/stacks/schema.py TOP_KEYS) validates them instead.
STACK_KEYS = frozenset(
    {"stack", "parameters", "outputs", "project", "user", "quota", "flavor", "image"}
    | {"keypair", "network", "subnet", "router", "security_group", "volume", "server"}
    | {"floating_ip"}
)


def parse_config(data: bytes, path: Path) -> LabConfig:
    try:
        raw = tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    raw = {k: v for k, v in raw.items() if k not in STACK_KEYS}
    try:
        config = LabConfig.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(p) for p in first["loc"] if p != "[key]") or "(top level)"
        msg = first["msg"].removeprefix("Value error, ")
        if first["type"] == "extra_forbidden":
            msg = "unknown key"
        raise ConfigError(f"{path}: {key}: {msg}") from None
    # Relative state_dir is refused above; resolve the path so later messages are exact.
    return config.model_copy(update={"source": path.resolve()})
