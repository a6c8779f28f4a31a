"""lab.toml: found in the documented order, validated, errors name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from labcloud.config import DEFAULT_FLAVORS, find_lab_file, load_config, parse_config
from labcloud.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]


def test_the_repository_lab_toml_is_a_working_example() -> None:
    config = load_config(str(REPO / "lab.toml"))
    assert config.site.virt_type == "auto"
    assert [f.name for f in config.flavors][:2] == ["m1.nano", "m1.tiny"]
    assert {p.name for p in config.projects} == {"admin", "demo"}


def test_an_empty_file_gives_openstack_defaults() -> None:
    config = parse_config(b"", Path("lab.toml"))
    assert config.flavors == DEFAULT_FLAVORS
    tiny = next(f for f in config.flavors if f.name == "m1.tiny")
    assert (tiny.vcpus, tiny.ram, tiny.disk) == (1, 512, 1)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[site]\nstate_dir = "relative"', "site.state_dir: must be an absolute path"),
        ("[site]\nfoo = 1", "site.foo: unknown key"),
        ('[site]\nvirt_type = "xen"', "site.virt_type:"),
        ('[[flavors]]\nname = "a b"\nvcpus = 1\nram = 128\ndisk = 1', "flavors.0.name: invalid"),
        ('[[flavors]]\nname = "x"\nvcpus = 0\nram = 128\ndisk = 1', "flavors.0.vcpus:"),
        ('[[flavors]]\nname = "x"\nvcpus = "two"\nram = 128\ndisk = 1', "flavors.0.vcpus:"),
        ("[site\n", "invalid TOML"),
        ('[site]\nlibvirt_uri = "no uri"', "site.libvirt_uri:"),
    ],
)
def test_invalid_lab_files_name_the_key(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(text.encode(), Path("lab.toml"))
    assert message in err.value.message
    assert "\n" not in err.value.one_line()


def test_search_order_lab_flag_then_env_then_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cwd_file = tmp_path / "lab.toml"
    cwd_file.write_text("")
    env_file = tmp_path / "env.toml"
    env_file.write_text("")
    flag_file = tmp_path / "flag.toml"
    flag_file.write_text("")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LABCLOUD_LAB", raising=False)
    assert find_lab_file() == Path("lab.toml")
    monkeypatch.setenv("LABCLOUD_LAB", str(env_file))
    assert find_lab_file() == env_file
    assert find_lab_file(str(flag_file)) == flag_file
    with pytest.raises(ConfigError, match="does not exist"):
        find_lab_file(str(tmp_path / "missing.toml"))
