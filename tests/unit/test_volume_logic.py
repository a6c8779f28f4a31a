"""Volumes' pure logic: device names, sizes, and the [volume_backends] config."""

from __future__ import annotations

from pathlib import Path

import pytest

from labcloud.config import parse_config
from labcloud.errors import ConfigError, Conflict, UsageError
from labcloud.services.volumes import (
    CANDIDATES,
    GIB,
    check_size,
    choose_device,
    gib_ceil,
    serial_of,
)


def test_the_first_free_device_after_the_root_disk() -> None:
    assert choose_device([]) == "vdb"
    assert choose_device(["vdb", "vdc"]) == "vdd"
    assert choose_device(["vdc"]) == "vdb"  # a gap left by a detach is reused


def test_a_requested_device_is_taken_as_given_or_refused() -> None:
    assert choose_device(["vdb"], "vdf") == "vdf"
    assert choose_device([], "/dev/vdc") == "vdc"
    with pytest.raises(Conflict, match="vdb is already in use"):
        choose_device(["vdb"], "vdb")
    with pytest.raises(UsageError, match="root disk"):
        choose_device([], "vda")
    for bad in ("sdb", "vd", "vdbb", "vd1", "../vdb", "vdB"):
        with pytest.raises(UsageError, match="invalid --device"):
            choose_device([], bad)


def test_no_free_device_is_a_conflict() -> None:
    with pytest.raises(Conflict, match="no free device"):
        choose_device(CANDIDATES)


def test_the_serial_is_the_volume_id_prefix_virtio_can_carry() -> None:
    vid = "0ed8dcd1-b4ab-4e23-aadb-e6652beccfb9"
    assert serial_of(vid) == "0ed8dcd1-b4ab-4e23-a" and len(serial_of(vid)) == 20


@pytest.mark.parametrize("size", [0, -1, True, 65537])
def test_bad_sizes_are_usage_errors(size: int) -> None:
    with pytest.raises(UsageError):
        check_size(size)


def test_sizes_round_up_to_whole_gib() -> None:
    assert check_size(1) == 1
    assert gib_ceil(64 * 1024**2) == 1
    assert gib_ceil(GIB) == 1 and gib_ceil(GIB + 1) == 2


def test_the_default_is_one_file_backend() -> None:
    config = parse_config(b"", Path("lab.toml"))
    assert list(config.volume_backends) == ["file"]
    assert config.volume_backends["file"].type == "file"
    assert config.volumes.default_type == "file"


def test_an_lvm_backend_on_a_loop_file() -> None:
    text = (
        b'[volume_backends.fast]\ntype = "lvm"\nvg = "labcloud-vg"\nthin_pool = "pool"\n'
        b'loop_file = "/var/lib/labcloud/lvm.img"\nloop_size_gb = 20\n'
        b'[volumes]\ndefault_type = "fast"\n'
    )
    config = parse_config(text, Path("lab.toml"))
    fast = config.volume_backends["fast"]
    assert (fast.vg, fast.thin_pool, fast.loop_size_gb) == ("labcloud-vg", "pool", 20)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[volume_backends.x]\ntype = "ceph"', "volume_backends.x.type: Input should be"),
        ('[volume_backends.x]\ntype = "lvm"', "volume_backends.x: an lvm backend needs vg"),
        ('[volume_backends.x]\ntype = "lvm"\nvg = "-v"', "volume_backends.x.vg: '-v' is not"),
        ('[volume_backends.x]\ntype = "lvm"\nvg = "a b"', "volume_backends.x.vg:"),
        ('[volume_backends.x]\ntype = "file"\nvg = "v"', "vg is not a setting of a file"),
        ('[volume_backends.x]\ntype = "file"\npath = "rel"', "volume_backends.x.path: must be"),
        ('[volume_backends.x]\ntype = "file"\nformat = "vmdk"', "volume_backends.x.format:"),
        ('[volume_backends.x]\ntype = "lvm"\nvg = "v"\nloop_size_gb = 0', "loop_size_gb"),
        ('[volume_backends.x]\ntype = "lvm"\nvg = "v"\nloop_size_gb = 2', "goes with loop_file"),
        ('[volume_backends."a b"]\ntype = "file"', "volume_backends: invalid name"),
        ('[volumes]\ndefault_type = "lvm"', "volumes: default_type 'lvm' is not one of"),
        ("[volumes]\nfoo = 1", "volumes.foo: unknown key"),
    ],
)
def test_config_errors_name_the_key(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(text.encode(), Path("lab.toml"))
    assert message in err.value.message, err.value.message
