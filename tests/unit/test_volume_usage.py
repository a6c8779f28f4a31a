"""Quota counters: volumes, gigabytes (volumes and snapshots) and snapshots per project."""

from __future__ import annotations

from pathlib import Path

from labcloud.config import parse_config
from labcloud.db.volume_models import Volume, VolumeSnapshot
from labcloud.lab import Lab
from labcloud.names import new_uuid


def test_usage_counts_one_projects_volumes_and_snapshots(tmp_path: Path) -> None:
    text = f'[site]\nstate_dir = "{tmp_path}"\nhost_agent = "none"\n'
    config = parse_config(text.encode(), tmp_path / "lab.toml")
    lab = Lab(config)
    lab.init()
    admin = lab.ctx.project.id
    demo = Lab(config, project="demo").ctx.project.id
    ids = [new_uuid() for _ in range(3)]
    with lab.store.write() as s:
        for vid, name, size, pid in (
            (ids[0], "a", 1, admin),
            (ids[1], "b", 5, admin),
            (ids[2], "c", 7, demo),
        ):
            s.add(
                Volume(
                    id=vid,
                    name=name,
                    status="available",
                    project_id=pid,
                    size=size,
                    volume_type="file",
                )
            )
        s.flush()
        s.add(
            VolumeSnapshot(
                id=new_uuid(),
                name="s",
                status="available",
                project_id=admin,
                volume_id=ids[1],
                size=5,
            )
        )
    assert lab.volumes.usage() == {"volumes": 2, "gigabytes": 11, "snapshots": 1}
    assert lab.volumes.usage(demo) == {"volumes": 1, "gigabytes": 7, "snapshots": 0}
