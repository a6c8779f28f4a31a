"""Stacks (Heat): a lab declared in TOML, planned as a diff and applied through the services.

schema.py   the typed schema of every declarable resource, and the file's validation
source.py   where a key path is in the file's text (tomllib gives no lines)
params.py   parameters and ${...} substitution
refs.py     references by name, the dependency graph, cycle detection
plan.py     the diff: + create, ~ update in place, -/+ replace, - delete
catalog.py  what already exists in the lab, by kind and name
actions.py  one resource's create, update and delete through the existing services
apply.py    carrying a plan out: dependency order, a thread pool, resumable
export.py   what exists, as TOML that apply accepts
service.py  StackService: plan, apply, destroy, list, show, export
"""
