"""Who the caller is, role names, and quota resources: the pure rules behind identity."""

from __future__ import annotations

import pytest

from labcloud.config import QuotasConfig
from labcloud.errors import UsageError
from labcloud.services.core import RESOURCES, Caller, current_caller, implies
from labcloud.services.identity import check_role


def test_root_is_the_admin_and_sudo_makes_the_caller_the_sudo_user() -> None:
    assert current_caller({}, euid=0) == Caller("root", is_root=True)
    assert current_caller({"SUDO_USER": "alice"}, euid=0) == Caller("alice")
    assert current_caller({"SUDO_USER": "root"}, euid=0) == Caller("root", is_root=True)


def test_sudo_user_is_ignored_for_anyone_but_root() -> None:
    # Any user can set SUDO_USER; only a process that really is root got it from sudo.
    caller = current_caller({"SUDO_USER": "root"}, euid=65534)
    assert not caller.is_root and caller.name != "root"


def test_roles_imply_the_ones_below_them() -> None:
    assert implies("admin", "member") and implies("member", "reader")
    assert not implies("reader", "member") and not implies(None, "reader")


def test_a_role_typo_suggests_the_role() -> None:
    with pytest.raises(UsageError) as err:
        check_role("mmber")
    assert "did you mean member?" in err.value.one_line()


def test_every_quota_resource_has_a_lab_toml_default() -> None:
    assert tuple(QuotasConfig.model_fields) == RESOURCES
