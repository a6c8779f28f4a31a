"""user create|list|show|delete, role add|remove|list, role assignment list"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from labcloud.cli.output import Record, Table
from labcloud.cli.registry import arg, command
from labcloud.errors import UsageError
from labcloud.services.core import ROLES

if TYPE_CHECKING:
    from labcloud.lab import Lab


def _roles(assignments: Any) -> str:
    return ", ".join(f"{r.project}={r.role}" for r in assignments)


@command(
    "user",
    "create",
    help="Make a local unix account a labcloud user, optionally with a role (cloud admins)",
    example="labcloud user create alice --project demo --role member",
    args=(
        arg("name", help="an existing unix account"),
        arg("--description", default=""),
        arg("--role", help="|".join(ROLES) + ", in the project given by --project"),
    ),
)
def user_create(lab: Lab, a: Any) -> Record:
    project = a.project if a.role else None  # --project alone only picks where you act
    user = lab.identity.create_user(a.name, a.description, project, a.role)
    _, roles = lab.identity.get_user(user.name)
    return Record({"id": user.id, "name": user.name, "roles": _roles(roles)})


@command("user", "list", help="List labcloud users and their roles", example="labcloud user list")
def user_list(lab: Lab, a: Any) -> Table:
    return Table(
        ("ID", "Name", "Roles", "Description"),
        [(u.id, u.name, _roles(r), u.description) for u, r in lab.identity.list_users()],
    )


@command(
    "user",
    "show",
    help="Show a user and their roles",
    example="labcloud user show alice",
    args=(arg("user"),),
)
def user_show(lab: Lab, a: Any) -> Record:
    user, roles = lab.identity.get_user(a.user)
    return Record(
        {
            "id": user.id,
            "name": user.name,
            "description": user.description,
            "roles": _roles(roles),
            "created_at": user.created_at,
        }
    )


@command(
    "user",
    "delete",
    help="Remove a labcloud user and their roles (the unix account stays)",
    example="labcloud user delete alice",
    args=(arg("user"),),
)
def user_delete(lab: Lab, a: Any) -> str:
    return f"deleted user {lab.identity.delete_user(a.user).name}"


@command(
    "user",
    "set",
    help="Set a user's API password (for `labcloud serve` and the openstack client)",
    example="labcloud user set alice --password-prompt",
    args=(
        arg("user"),
        arg("--password", help="the new password (visible to ps: prefer --password-prompt)"),
        arg("--password-prompt", action="store_true", help="ask for it, twice, without echo"),
    ),
)
def user_set(lab: Lab, a: Any) -> str:
    if (a.password is None) == (not a.password_prompt):
        raise UsageError("give --password or --password-prompt")
    password = a.password
    if a.password_prompt:
        import getpass

        password = getpass.getpass("New password: ")
        if getpass.getpass("Repeat it: ") != password:
            raise UsageError("the two passwords differ")
    user = lab.identity.set_password(a.user, password)
    return f"password set for user {user.name}"


# --project is the global option: for role commands it names the project of the role.
_ROLE_ARGS = (arg("role", help="|".join(ROLES)), arg("--user", required=True))


def _project(a: Any) -> str:
    if not a.project:
        raise UsageError("which project? give --project PROJECT")
    return str(a.project)


@command(
    "role",
    "add",
    help="Give a user a role in a project (replaces the role they had there)",
    example="labcloud role add --user alice --project demo member",
    args=_ROLE_ARGS,
)
def role_add(lab: Lab, a: Any) -> str:
    r = lab.identity.add_role(a.user, _project(a), a.role)
    return f"{r.user} has the {r.role} role in project {r.project}"


@command(
    "role",
    "remove",
    help="Take a user's role in a project away",
    example="labcloud role remove --user alice --project demo member",
    args=_ROLE_ARGS,
)
def role_remove(lab: Lab, a: Any) -> str:
    r = lab.identity.remove_role(a.user, _project(a), a.role)
    return f"{r.user} no longer has the {r.role} role in project {r.project}"


@command(
    "role",
    "list",
    help="The roles, each including the ones below it",
    example="labcloud role list",
    needs_lab=False,
)
def role_list(lab: Lab, a: Any) -> Table:
    what = {
        "reader": "sees the project's resources",
        "member": "reader, and creates, changes and deletes them",
        "admin": "member; in the admin project, administers the whole lab",
    }
    return Table(("Role", "Grants"), [(r, what[r]) for r in ROLES])


@command(
    "role",
    "assignment",
    "list",
    help="Who has which role where",
    example="labcloud role assignment list --project demo",
    args=(arg("--user"),),
)
def role_assignment_list(lab: Lab, a: Any) -> Table:
    rows = lab.identity.assignments(user=a.user, project=a.project)
    return Table(("User", "Project", "Role"), [(r.user, r.project, r.role) for r in rows])
