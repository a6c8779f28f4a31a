"""project create|list|show|set|delete|use"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from labcloud.cli.output import Record, Table
from labcloud.cli.registry import arg, command

if TYPE_CHECKING:
    from labcloud.lab import Lab


def record(p: Any) -> Record:
    return Record(
        {
            "id": p.id,
            "name": p.name,
            "enabled": p.enabled,
            "description": p.description,
            "created_at": p.created_at,
        }
    )


@command(
    "project",
    "create",
    help="Create a project (cloud admins)",
    example='labcloud project create class1 --description "Networks lab, group 1"',
    args=(
        arg("name"),
        arg("--description", default=""),
        arg("--disable", action="store_true", help="create it disabled"),
    ),
)
def project_create(lab: Lab, a: Any) -> Record:
    return record(lab.identity.create_project(a.name, a.description, enabled=not a.disable))


@command(
    "project",
    "list",
    help="List the projects you have a role in (all of them for an admin)",
    example="labcloud project list",
)
def project_list(lab: Lab, a: Any) -> Table:
    return Table(
        ("ID", "Name", "Enabled", "Description"),
        [(p.id, p.name, p.enabled, p.description) for p in lab.identity.list_projects()],
    )


@command(
    "project",
    "show",
    help="Show a project and who has roles in it",
    example="labcloud project show demo",
    args=(arg("project"),),
)
def project_show(lab: Lab, a: Any) -> Record:
    project = lab.identity.get_project(a.project)
    roles = lab.identity.assignments(project=project.name)
    fields = record(project).fields | {"roles": ", ".join(f"{r.user}={r.role}" for r in roles)}
    return Record(fields)


@command(
    "project",
    "set",
    help="Rename, describe, enable or disable a project (cloud admins)",
    example="labcloud project set demo --disable",
    args=(
        arg("project"),
        arg("--name"),
        arg("--description"),
        arg("--enable", dest="enabled", action="store_const", const=True, default=None),
        arg("--disable", dest="enabled", action="store_const", const=False),
    ),
)
def project_set(lab: Lab, a: Any) -> Record:
    return record(
        lab.identity.set_project(
            a.project, name=a.name, description=a.description, enabled=a.enabled
        )
    )


@command(
    "project",
    "delete",
    help="Delete an empty project (cloud admins); refused, with a list, while it holds resources",
    example="labcloud project delete class1",
    args=(arg("project"),),
)
def project_delete(lab: Lab, a: Any) -> str:
    project = lab.identity.delete_project(a.project)
    return f"deleted project {project.name}"


@command(
    "project",
    "use",
    help="Make a project your current one (used when --project and $LABCLOUD_PROJECT are unset)",
    example="labcloud project use demo",
    args=(arg("project"),),
)
def project_use(lab: Lab, a: Any) -> str:
    project = lab.identity.use_project(a.project)
    return f"current project: {project.name}"
