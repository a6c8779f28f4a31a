"""The accelerator probe's cache: two processes probing a fresh node at once both succeed."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from labcloud.backends import host_agent, kvm_probe
from labcloud.backends.host_agent import LocalAgent


def test_a_second_probe_writing_mid_write_does_not_take_the_first_ones_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Process A has written its answer and is about to rename it into place when process B
    # probes and writes too. With one shared temporary name, B's rename took A's file and A
    # crashed with FileNotFoundError.
    monkeypatch.setattr(kvm_probe, "kvm_works", lambda: False)
    real_replace = os.replace
    other = LocalAgent(tmp_path)
    answers: list[str] = []
    interleaved = False

    def replace_after_the_other_process(src: str, dst: str) -> None:
        nonlocal interleaved
        if not interleaved:
            interleaved = True
            answers.append(other.virt_type("auto"))  # B, in full, between A's write and rename
        real_replace(src, dst)

    monkeypatch.setattr(host_agent.os, "replace", replace_after_the_other_process)
    assert LocalAgent(tmp_path).virt_type("auto") == "qemu"
    assert answers == ["qemu"]
    assert json.loads((tmp_path / "virt-type.json").read_text())["virt_type"] == "qemu"
    assert [p.name for p in tmp_path.iterdir()] == ["virt-type.json"]  # no temporary left


def test_the_cached_answer_is_used_until_the_next_boot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    probes: list[int] = []
    monkeypatch.setattr(kvm_probe, "kvm_works", lambda: probes.append(1) or True)
    assert LocalAgent(tmp_path).virt_type("auto") == "kvm"
    assert LocalAgent(tmp_path).virt_type("auto") == "kvm"
    assert len(probes) == 1
    monkeypatch.setattr(host_agent, "_boot_id", lambda: "another-boot")
    LocalAgent(tmp_path).virt_type("auto")
    assert len(probes) == 2
