"""lab.toml: found, read with tomllib and validated into typed models.

An error names the key path and says what is wrong.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from labcloud.errors import ConfigError
from labcloud.names import check_name

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


class LabConfig(_Strict):
    site: SiteConfig = SiteConfig()
    flavors: tuple[FlavorConfig, ...] = DEFAULT_FLAVORS
    projects: tuple[ProjectConfig, ...] = DEFAULT_PROJECTS
    source: Path | None = Field(default=None, exclude=True)

    @field_validator("flavors", "projects")
    @classmethod
    def _unique(cls, value: tuple[FlavorConfig | ProjectConfig, ...]) -> tuple:
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


def parse_config(data: bytes, path: Path) -> LabConfig:
    try:
        raw = tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    try:
        config = LabConfig.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(p) for p in first["loc"]) or "(top level)"
        msg = first["msg"].removeprefix("Value error, ")
        if first["type"] == "extra_forbidden":
            msg = "unknown key"
        raise ConfigError(f"{path}: {key}: {msg}") from None
    # Relative state_dir is refused above; resolve the path so later messages are exact.
    return config.model_copy(update={"source": path.resolve()})
