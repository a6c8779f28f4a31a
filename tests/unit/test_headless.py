"""Headless completeness: every command explains itself with an example, completion comes
from the registry, errors are JSON under -f json, and exit codes are documented."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import labcloud.cli.commands  # noqa: F401 - registers every command
from labcloud.cli import completion
from labcloud.cli.main import _top_help
from labcloud.cli.registry import COMMANDS
from labcloud.config import STACK_KEYS
from labcloud.errors import EXIT_CODES
from labcloud.services.stacks.schema import TOP_KEYS

LABCLOUD = str(Path(sys.executable).with_name("labcloud"))


def test_every_command_has_a_one_line_description_and_an_example() -> None:
    assert len(COMMANDS) > 50
    for words, cmd in COMMANDS.items():
        name = " ".join(words)
        assert cmd.help and "\n" not in cmd.help and len(cmd.help) <= 90, name
        assert cmd.example.removeprefix("source <(").startswith("labcloud "), name
        # The example spells the command itself (after any global options).
        assert name in cmd.example, (name, cmd.example)


def test_every_help_page_shows_the_description_and_example(cli) -> None:  # type: ignore[no-untyped-def]
    for words in (("stack", "apply"), ("server", "resize"), ("completion",)):
        out = cli(*words, "--help")
        assert out.returncode == 0
        assert COMMANDS[words].help in out.stdout
        assert f"example: {COMMANDS[words].example}" in out.stdout


def _complete(script: str, *words: str) -> list[str]:
    probe = (
        f"{script}\nCOMP_WORDS=(labcloud {' '.join(words)}); COMP_CWORD={len(words)}; "
        '_labcloud; echo "${COMPREPLY[@]}"'
    )
    out = subprocess.run(["bash", "-c", probe], capture_output=True, text=True, timeout=30)
    return out.stdout.split()


def test_bash_completion_completes_commands_and_their_options() -> None:
    script = completion.bash()
    assert "stack" in _complete(script, "st")
    assert _complete(script, "stack", "ap") == ["apply"]
    assert _complete(script, "security", "group", "rule", "cr") == ["create"]
    opts = _complete(script, "stack", "destroy", "--k")
    assert opts == ["--keep-volumes"]
    assert _complete(script, "server", "list", "-f", "js") == ["json"]


def test_zsh_completion_loads_the_same_functions_through_bashcompinit() -> None:
    script = completion.zsh()
    assert script.startswith("#compdef labcloud") and "bashcompinit" in script
    assert "complete -F _labcloud labcloud" in script


def test_exit_codes_are_listed_in_the_top_help() -> None:
    text = _top_help()
    for code, number in EXIT_CODES.items():
        assert f"{number} {code}" in text


def test_a_bad_stack_file_under_f_json_is_a_json_error(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cli("init")
    bad = tmp_path / "bad.toml"
    bad.write_text('[network.lan]\n\n[server.web]\nimage = "tiny"\nflavour = "m1.nano"\n')
    out = cli("stack", "plan", str(bad), "-f", "json")
    assert out.returncode == EXIT_CODES["config"]
    err = json.loads(out.stderr)["error"]
    assert err["code"] == "config" and err["exit_code"] == EXIT_CODES["config"]
    assert err["message"].startswith("bad.toml:5: server.web.flavour: unknown key") or (
        f"{bad}:5: server.web.flavour: unknown key" in err["message"]
    )
    assert "did you mean 'flavor'?" in err["message"]


def test_lab_toml_may_hold_a_stack_and_still_configures_the_lab(
    cli,
    lab_file: Path,  # type: ignore[no-untyped-def]
) -> None:
    lab_file.write_text(
        lab_file.read_text() + '\n[stack]\nname = "home"\n\n[flavor.st-tiny]\nvcpus = 1\nram = 64\n'
    )
    assert cli("init").returncode == 0
    plan = cli("stack", "plan")
    assert plan.returncode == 0, plan.stderr
    assert plan.stdout.splitlines()[:2] == ["stack home:", "  + flavor st-tiny"]
    assert set(TOP_KEYS) == STACK_KEYS


def test_every_asynchronous_action_takes_wait_and_timeout(capsys) -> None:  # type: ignore[no-untyped-def]
    from labcloud.cli.main import main
    from labcloud.cli.waiting import ASYNCHRONOUS

    for words in sorted(ASYNCHRONOUS):
        assert words in COMMANDS, words
        with pytest.raises(SystemExit):
            main([*words, "--help"])
        page = capsys.readouterr().out
        assert "--wait" in page and "--timeout" in page, words


def test_a_timeout_interrupts_the_action_with_the_timeout_exit_code() -> None:
    import time

    from labcloud.cli.waiting import deadline
    from labcloud.errors import Timeout

    with (
        pytest.raises(Timeout, match=r"labcloud volume create did not finish in 0\.2 s"),
        deadline(0.2, "labcloud volume create"),
    ):
        time.sleep(5)
    assert Timeout.exit_code == EXIT_CODES["timeout"]


def test_zsh_registers_the_completion_and_gets_the_candidates(tmp_path: Path) -> None:
    import shutil

    if shutil.which("zsh") is None:
        pytest.skip("zsh is not installed")
    script = tmp_path / "labcloud.zsh"
    script.write_text(completion.zsh())
    probe = (
        f"autoload -U compinit && compinit -u; source {script}; setopt ksharrays; "
        'echo "${_comps[labcloud]}"; COMP_WORDS=(labcloud stack a); COMP_CWORD=2; _labcloud; '
        'echo "${COMPREPLY[@]}"'
    )
    out = subprocess.run(["zsh", "-c", probe], capture_output=True, text=True, timeout=30)
    registered, candidates = out.stdout.splitlines()[-2:]
    assert registered == "_bash_complete -F _labcloud"
    # zsh narrows the candidates to the typed prefix itself (compadd).
    assert "apply" in candidates.split() and "destroy" in candidates.split()
