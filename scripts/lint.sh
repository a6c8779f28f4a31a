#!/usr/bin/env bash
# make lint: ruff, mypy over the core and the import-linter contracts. Each runs even when
# an earlier one failed; the last line names every check that failed, and the exit is 1.
set -uo pipefail
cd "$(dirname "$0")/.."
VENV=.venv/bin
TREE=build/lint-tree  # the labcloud namespace as one folder (scripts/lint_tree.py)

failed=()
step() {
  local name=$1
  shift
  echo "lint: $name"
  "$@" || failed+=("$name")
}

step ruff "$VENV/ruff" check .
if "$VENV/python" scripts/lint_tree.py "$TREE"; then
  # mypy finds labcloud.backends and labcloud.screens in the tree ([tool.mypy] mypy_path).
  step mypy "$VENV/mypy" labcloud
  # grimp imports `labcloud` from the tree, where the mapped subpackages are on disk;
  # from inside it, since lint-imports puts its working directory first on sys.path.
  step import-linter env -C "$TREE" PYTHONPATH=. "$PWD/$VENV/lint-imports" "$PWD/pyproject.toml" --no-cache
  step import-cycles env -C "$TREE" PYTHONPATH=. "$PWD/$VENV/lint-imports" "$PWD/scripts/import_cycles.toml" --no-cache
else
  failed+=("lint-tree")
fi

if [ "${#failed[@]}" -gt 0 ]; then
  echo "lint: FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "lint: ruff, mypy, import-linter and import-cycles passed"
