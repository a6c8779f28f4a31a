"""Lay out the `labcloud` import namespace as one folder of symlinks, as a wheel would.

screens/ and backends/ install as labcloud.screens and labcloud.backends through
pyproject's package-dir mapping. The editable install maps them with an import hook, which
tools that walk the disk (import-linter's grimp, mypy) do not run; they see this tree
instead. Symlinks, so it is rebuilt in milliseconds and always shows the working copy.

Usage: python scripts/lint_tree.py DEST   (DEST is emptied and rebuilt)
"""

from __future__ import annotations

import os
import shutil
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SKIP = {"__pycache__"}


def build(dest: Path) -> None:
    setuptools = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    mapping: dict[str, str] = setuptools["package-dir"]
    if dest.exists():
        shutil.rmtree(dest)
    # Parents first: a top-level package becomes a real folder of links to its entries,
    # so that its mapped subpackages can be linked in beside them.
    for package, folder in sorted(mapping.items(), key=lambda kv: kv[0].count(".")):
        target, source = dest.joinpath(*package.split(".")), REPO / folder
        if "." not in package:
            target.mkdir(parents=True)
            for entry in sorted(source.iterdir()):
                if entry.name not in SKIP:
                    os.symlink(os.path.relpath(entry, target), target / entry.name)
        elif target.parent.is_symlink() or not target.parent.is_dir() or target.exists():
            # Never write through a link into the working copy.
            sys.exit(f"lint_tree: cannot place {package}; only top-level children are mapped")
        else:
            os.symlink(os.path.relpath(source, target.parent), target)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    build(Path(sys.argv[1]).resolve())
