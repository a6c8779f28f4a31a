"""A state-only lab (`host_agent = "none"`, as every unit test's lab): what needs only the
store works; what would touch this machine is one line, exit 6, and leaves nothing."""

from __future__ import annotations

from labcloud.errors import EXIT_CODES


def test_the_catalogue_works_without_a_host_side(cli) -> None:  # type: ignore[no-untyped-def]
    assert cli("init").returncode == 0
    assert "m1.nano" in cli("flavor", "list", "-f", "value", "-c", "Name").stdout
    made = cli("security", "group", "create", "web")
    assert made.returncode == 0, made.stderr


def test_what_needs_the_host_is_refused_in_one_line_and_leaves_nothing(cli) -> None:  # type: ignore[no-untyped-def]
    assert cli("init").returncode == 0
    for argv, kind in (
        (("network", "create", "n1"), "network"),
        (("router", "create", "r1"), "router"),
        (("volume", "create", "v1", "--size", "1"), "volume"),
    ):
        out = cli(*argv)
        assert out.returncode == EXIT_CODES["backend"], (argv, out.stderr)
        assert out.stderr.count("\n") == 1, out.stderr
        assert 'host_agent = "none"' in out.stderr
        left = cli(kind, "list", "-f", "value")
        assert left.returncode == 0 and left.stdout.strip() == "", (kind, left.stdout)
