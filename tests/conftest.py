"""Repo-wide test setup.

Being a module of the `tests` package, this file makes pytest put the repository
root on sys.path (import mode "prepend"), so `tests.harness` imports however
pytest is started (`pytest`, `python -m pytest`, from any directory).
"""
