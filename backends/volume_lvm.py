"""The LVM volume backend: each volume is an LV in one volume group.

labcloud owns only what it made: every LV it creates is named `labcloud-...` and tagged
`labcloud-vol-<uuid>` (snapshots `labcloud-snap-<uuid>`), and the tag is checked before
any change. Reports are read with `--reportformat json`; commands are argv lists.

Without device-mapper (some containers and CI kernels) LVs cannot be activated, but LVM
can still edit its metadata. Then every command runs with activation disabled
(`global/activation=0`, `-an -Zn`), which covers create, extend, tag and remove; what
needs an active LV (copying data in, thin pools, snapshots) fails with that reason.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from functools import cached_property
from pathlib import Path

from labcloud.errors import BackendError

LV_PREFIX = "labcloud-"
_TAG_PREFIX = {"volume": "labcloud-vol-", "snapshot": "labcloud-snap-"}
_LV_NAME = {"volume": "labcloud-volume-", "snapshot": "labcloud-snap-"}
_ID_RE = re.compile(r"^[0-9a-f-]{36}$")
NO_DM = "this kernel has no device-mapper, so LVs cannot be activated"


def device_mapper_available() -> bool:
    """Whether LVs can be activated here: the kernel's device-mapper answers."""
    try:
        proc = subprocess.run(
            ["dmsetup", "version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (FileNotFoundError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0 and "Driver version" in proc.stdout


def _cmd(argv: list[str], what: str, timeout: float = 300) -> str:
    env = dict(os.environ, LVM_SUPPRESS_FD_WARNINGS="1", LC_ALL="C")
    try:
        proc = subprocess.run(
            argv, capture_output=True, text=True, timeout=timeout, check=False, env=env
        )
    except FileNotFoundError:
        raise BackendError(f"cannot {what}: {argv[0]} is not installed", "install lvm2") from None
    except subprocess.TimeoutExpired:
        raise BackendError(f"cannot {what}: {argv[0]} took longer than {timeout:g} s") from None
    if proc.returncode != 0:
        lines = [
            line.strip()
            for line in (proc.stderr or proc.stdout).splitlines()
            if line.strip() and not line.strip().startswith("WARNING")
        ]
        raise BackendError(f"cannot {what}: {' '.join(lines)[:300] or f'exit {proc.returncode}'}")
    return proc.stdout


class LvmVolumes:
    kind = "lvm"
    # An LV is grown by LVM first; a running QEMU is then told the new size.
    live_extend = "device"

    def __init__(
        self,
        name: str,
        vg: str,
        thin_pool: str | None = None,
        loop_file: Path | None = None,
        loop_size_gb: int | None = None,
    ) -> None:
        self.name = name
        self.vg = vg
        self.thin_pool = thin_pool
        self.loop_file = loop_file
        self.loop_size = (loop_size_gb or 10) * 1024**3
        self._loop_dev: str | None = None

    @cached_property
    def activation(self) -> bool:
        return device_mapper_available()

    # -- running LVM ----------------------------------------------------------------
    def _base(self) -> list[str]:
        """Options every LVM command gets: only our loop device, activation off without dm."""
        opts: list[str] = []
        if self.loop_file is not None and self._loop_dev is None:
            self._loop_dev = self._find_loop(self.loop_file)
        if self._loop_dev:
            opts += ["--devices", self._loop_dev]
        if not self.activation:
            opts += ["--config", "global { activation = 0 }"]
        return opts

    def _lvm(self, tool: str, args: list[str], what: str) -> str:
        return _cmd([tool, *self._base(), *args], what)

    def _report(self, tool: str, fields: str, target: str, key: str) -> list[dict[str, str]]:
        out = self._lvm(
            tool,
            ["--reportformat", "json", "--units", "b", "--nosuffix", "-o", fields, target],
            f"read the {key} report",
        )
        rows: list[dict[str, str]] = []
        for report in json.loads(out or '{"report": []}').get("report", []):
            rows.extend(report.get(key, []))
        return rows

    def _vg_exists(self) -> bool:
        try:
            return bool(self._report("vgs", "vg_name", self.vg, "vg"))
        except BackendError:
            return False

    # -- the volume group -----------------------------------------------------------
    def ensure(self) -> dict[str, object]:
        """Make sure the VG (and loop device, and thin pool) exist. Idempotent."""
        if self.loop_file is not None:
            self._loop_dev = self._ensure_loop(self.loop_file)
            if not self._vg_exists():
                pvs = self._report("pvs", "pv_name", self._loop_dev, "pv") if self._is_pv() else []
                if not pvs:
                    self._lvm("pvcreate", ["-y", self._loop_dev], "create the physical volume")
                self._lvm("vgcreate", ["-y", self.vg, self._loop_dev], "create the volume group")
        elif not self._vg_exists():
            raise BackendError(
                f"volume group {self.vg} does not exist",
                "create it with vgcreate, or set loop_file in [volume_backends]",
            )
        if self.thin_pool and not self._lv(self.thin_pool):
            self._lvm(
                "lvcreate",
                [
                    "-y",
                    "--type",
                    "thin-pool",
                    "-l",
                    "90%FREE",
                    "-n",
                    self.thin_pool,
                    "--addtag",
                    "labcloud-pool",
                    self.vg,
                ],
                "create the thin pool",
            )
        return {
            "backend": self.name,
            "type": self.kind,
            "vg": self.vg,
            "thin_pool": self.thin_pool,
            "loop_device": self._loop_dev,
            "activation": self.activation,
        }

    def _is_pv(self) -> bool:
        try:
            return bool(self._report("pvs", "pv_name", str(self._loop_dev), "pv"))
        except BackendError:
            return False

    def _ensure_loop(self, path: Path) -> str:
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            with open(path, "wb") as fh:
                fh.truncate(self.loop_size)  # sparse
        return (
            self._find_loop(path)
            or _cmd(["losetup", "--show", "-f", str(path)], "attach the loop device").strip()
        )

    @staticmethod
    def _find_loop(path: Path) -> str | None:
        """The loop device already backed by `path`, if any."""
        if not path.exists():
            return None
        out = _cmd(
            ["losetup", "--list", "--json", "--output", "NAME,BACK-FILE", "-j", str(path)],
            "look for the loop device",
        )
        for dev in json.loads(out or '{"loopdevices": []}').get("loopdevices", []):
            return str(dev["name"])
        return None

    # -- LVs ------------------------------------------------------------------------
    def locate(self, kind: str, resource_id: str) -> str:
        if not _ID_RE.fullmatch(resource_id):
            raise BackendError(f"bad id {resource_id!r}")
        return f"{self.vg}/{_LV_NAME[kind]}{resource_id}"

    def _lv(self, lv_name: str) -> dict[str, str] | None:
        rows = self._report("lvs", "lv_name,lv_tags,lv_size,pool_lv,origin", self.vg, "lv")
        return next((r for r in rows if r["lv_name"] == lv_name), None)

    def _owned_lv(self, location: str) -> dict[str, str] | None:
        """The LV at `location` if it exists, after checking labcloud made it."""
        vg, _, lv_name = location.partition("/")
        if vg != self.vg or not lv_name.startswith(LV_PREFIX):
            raise BackendError(f"refusing to touch {location}: not a labcloud LV in {self.vg}")
        lv = self._lv(lv_name)
        if lv is None:
            return None
        kind = "volume" if lv_name.startswith(_LV_NAME["volume"]) else "snapshot"
        wanted = _TAG_PREFIX[kind] + lv_name.removeprefix(_LV_NAME[kind])
        if wanted not in lv["lv_tags"].split(","):
            raise BackendError(f"refusing to touch {location}: it lacks the tag {wanted}")
        return lv

    def disk_spec(self, location: str) -> dict[str, object]:
        return {"path": f"/dev/{location}", "file_format": "raw", "source_type": "block"}

    def create(self, volume_id: str, size: int, source: dict[str, str] | None = None) -> str:
        if source is not None and not self.activation:
            raise BackendError(f"cannot copy data into an LV: {NO_DM}")
        self.ensure()
        location = self.locate("volume", volume_id)
        lv_name = location.split("/", 1)[1]
        if self.thin_pool:
            args = ["-V", f"{size}b", "--thinpool", self.thin_pool]
        else:
            args = ["-L", f"{size}b"]
        if not self.activation:
            args += ["-an", "-Zn"]
        self._lvm(
            "lvcreate",
            ["-y", *args, "-n", lv_name, "--addtag", f"labcloud-vol-{volume_id}", self.vg],
            "create the logical volume",
        )
        if source is not None:
            try:
                _cmd(
                    [
                        "qemu-img",
                        "convert",
                        "-U",
                        "-q",
                        "-n",
                        "-f",
                        source.get("format", "raw"),
                        "-O",
                        "raw",
                        "--",
                        source["path"],
                        f"/dev/{location}",
                    ],
                    "copy the data into the volume",
                    timeout=3600,
                )
            except BaseException:
                self.delete(location)
                raise
        return location

    def snapshot(self, snapshot_id: str, volume_location: str) -> str:
        if not self.activation:
            raise BackendError(f"cannot snapshot an LV: {NO_DM}")
        origin = self._owned_lv(volume_location)
        if origin is None:
            raise BackendError(f"the volume's LV {volume_location} is missing")
        location = self.locate("snapshot", snapshot_id)
        args = [] if origin["pool_lv"] else ["-L", f"{origin['lv_size']}b"]
        self._lvm(
            "lvcreate",
            [
                "-y",
                "-s",
                *args,
                "-n",
                location.split("/", 1)[1],
                "--addtag",
                f"labcloud-snap-{snapshot_id}",
                volume_location,
            ],
            "snapshot the logical volume",
        )
        if origin["pool_lv"]:  # thin snapshots skip activation unless asked
            self._lvm("lvchange", ["-ay", "-K", location], "activate the snapshot")
        return location

    def source(self, location: str) -> dict[str, str]:
        return {"path": f"/dev/{location}", "format": "raw"}

    def extend(self, location: str, size: int) -> None:
        if self._owned_lv(location) is None:
            raise BackendError(f"the volume's LV {location} is missing")
        self._lvm("lvextend", ["-L", f"{size}b", location], "extend the logical volume")

    def delete(self, location: str) -> None:
        if self._owned_lv(location) is None:
            return
        self._lvm("lvremove", ["-y", location], "remove the logical volume")

    # -- facts ----------------------------------------------------------------------
    def size_of(self, location: str) -> int | None:
        lv = self._owned_lv(location)
        return int(lv["lv_size"]) if lv else None

    def free_bytes(self) -> int | None:
        if self.thin_pool:
            return None  # thin volumes over-commit; the pool fills as data is written
        rows = self._report("vgs", "vg_free", self.vg, "vg")
        return int(rows[0]["vg_free"]) if rows else 0

    def owned(self) -> list[str]:
        rows = self._report("lvs", "lv_name,lv_tags", self.vg, "lv")
        return sorted(
            f"{self.vg}/{r['lv_name']}"
            for r in rows
            if r["lv_name"].startswith(LV_PREFIX)
            and any(
                t.startswith(("labcloud-vol-", "labcloud-snap-")) for t in r["lv_tags"].split(",")
            )
        )
