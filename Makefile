# Two commands do everything on a fresh Debian 12 machine: `make run` and `make test`.
VENV := .venv/bin
LAB ?= lab.toml

.PHONY: run test setup lint unit integration bench shell clean

run: setup
	$(VENV)/labcloud --lab $(LAB) init >/dev/null
	$(VENV)/labcloud --lab $(LAB)

test: setup lint
	$(VENV)/python -m pytest -q tests

setup:
	@bash scripts/setup.sh

lint:
	@bash scripts/lint.sh

unit: setup
	$(VENV)/python -m pytest -q tests/unit

integration: setup
	$(VENV)/python -m pytest -q tests/integration

# A shell inside a fresh isolated harness node (own netns, mount ns and libvirtd).
shell: setup
	$(VENV)/python -m tests.harness shell

bench: setup
	$(VENV)/python -m bench

clean:
	rm -rf .venv build *.egg-info .pytest_cache .ruff_cache .mypy_cache
