"""The headless CLI: the openstack client's grammar, formats, and one-line errors."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

from labcloud.errors import EXIT_CODES


def test_flavor_list_in_every_format(cli) -> None:  # type: ignore[no-untyped-def]
    assert cli("init").returncode == 0
    table = cli("flavor", "list")
    assert table.returncode == 0
    assert "| m1.tiny " in table.stdout and table.stdout.startswith("+-")
    rows = json.loads(cli("flavor", "list", "-f", "json").stdout)
    tiny = next(r for r in rows if r["Name"] == "m1.tiny")
    assert (tiny["VCPUs"], tiny["RAM"], tiny["Disk"]) == (1, 512, 1)
    reader = list(csv.reader(io.StringIO(cli("flavor", "list", "-f", "csv").stdout)))
    assert reader[0][:2] == ["ID", "Name"] and len(reader) == 7
    values = cli("flavor", "list", "-f", "value", "-c", "Name", "-c", "RAM").stdout.split("\n")
    assert "m1.tiny 512" in values
    yaml = cli("flavor", "show", "m1.nano", "-f", "yaml").stdout
    assert 'name: "m1.nano"' in yaml.lower() and "ram: 128" in yaml.lower()


def test_global_options_work_before_the_command(cli, lab_file: Path) -> None:  # type: ignore[no-untyped-def]
    cli("init")
    out = cli("--lab", str(lab_file), "-f", "value", "-c", "Name", "flavor", "list")
    assert out.returncode == 0 and out.stdout.split()[0] == "m1.nano"


def test_flavor_create_duplicate_and_delete(cli) -> None:  # type: ignore[no-untyped-def]
    cli("init")
    assert cli("flavor", "create", "m1.micro", "--vcpus", "1", "--ram", "256").returncode == 0
    dup = cli("flavor", "create", "m1.micro", "--vcpus", "1", "--ram", "256")
    assert dup.returncode == EXIT_CODES["conflict"]
    assert dup.stderr.count("\n") == 1 and "already exists" in dup.stderr
    assert cli("flavor", "delete", "m1.micro").returncode == 0
    assert cli("flavor", "show", "m1.micro").returncode == EXIT_CODES["not_found"]


def test_errors_are_one_line_with_distinct_exit_codes(cli) -> None:  # type: ignore[no-untyped-def]
    cli("init")
    cases = [
        (("sever", "list"), "usage", "unknown command"),
        (("server", "create"), "usage", "required"),
        (
            ("server", "create", "x;rm -rf /", "--image", "a", "--flavor", "m1.tiny"),
            "usage",
            "invalid server name",
        ),
        (
            ("server", "create", "<x/>", "--image", "a", "--flavor", "m1.tiny"),
            "usage",
            "invalid server name",
        ),
        (
            ("server", "create", "ok", "--image", "nope", "--flavor", "m1.tiny"),
            "not_found",
            "no image",
        ),
        (("flavor", "show", "nope"), "not_found", "no flavor"),
        (("flavor", "list", "-c", "Nope"), "usage", "no column"),
        (("flavor", "list", "-f", "xml"), "usage", "invalid choice"),
    ]
    for argv, code, text in cases:
        out = cli(*argv)
        assert out.returncode == EXIT_CODES[code], (argv, out.stderr)
        assert text in out.stderr, (argv, out.stderr)
        assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr, out.stderr
        assert out.stdout == ""


def test_json_errors_with_f_json(cli) -> None:  # type: ignore[no-untyped-def]
    cli("init")
    out = cli("flavor", "show", "nope", "-f", "json")
    assert json.loads(out.stderr)["error"]["code"] == "not_found"


def test_a_broken_lab_file_is_a_config_error(tmp_path: Path) -> None:
    bad = tmp_path / "lab.toml"
    bad.write_text("[site]\nstate_dir = 3\n")
    exe = Path(sys.executable).with_name("labcloud")
    out = subprocess.run(
        [str(exe), "--lab", str(bad), "flavor", "list"], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == EXIT_CODES["config"]
    assert "site.state_dir" in out.stderr and out.stderr.count("\n") == 1


def test_libvirtd_unreachable_is_a_backend_error(cli) -> None:  # type: ignore[no-untyped-def]
    cli("init")
    out = cli("server", "list")
    assert out.returncode == EXIT_CODES["backend"]
    assert "cannot connect to libvirt" in out.stderr and "libvirtd" in out.stderr


def test_help_version_and_examples(cli) -> None:  # type: ignore[no-untyped-def]
    top = cli("--help")
    assert top.returncode == 0 and "server create" in top.stdout and "console log" in top.stdout
    sub = cli("server", "create", "--help")
    assert "example: labcloud server create web1" in sub.stdout
    assert cli("--version").stdout.startswith("labcloud ")


def test_headless_path_never_imports_textual(lab_file: Path) -> None:
    code = (
        "import sys; from labcloud.cli.main import main; main(['--lab', sys.argv[1], "
        "'flavor', 'list']); print('textual' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(lab_file)], capture_output=True, text=True, timeout=60
    )
    assert out.stdout.strip().endswith("False")
