"""`workflow init` and `workflow user ...`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import click

from cli.app import App, pass_app
from cli.once import OnceCommand, OnceGroup
from cli.output import emit_json, json_option, say, table
from cli.types import REASON, UNTIL, ProcessName
from states import PROCESS


@click.command(cls=OnceCommand, short_help="Create the database, its first admin and the policy.")
@click.option("--admin", metavar="NAME", help="Name of the first admin (default: the --as user).")
@json_option
@pass_app
def init(app: App, admin: str | None, as_json: bool) -> None:
    """Create the database and its first admin, and seed the country restrictions.

    Running it again on an initialised database changes nothing.
    """
    name = app.registering() if admin is None else admin  # an empty --admin is a bad name
    created = app.workflow(create=True).init(name)
    if as_json:
        emit_json({"initialised": created, "admin": name if created else None})
    elif created:
        say(f"initialised {app.db_shown} with admin {name!r} and the seeded restrictions")
    else:
        unused = f" ({admin!r} was not made an admin: `user add` does that)" if admin else ""
        say(f"{app.db_shown} is already initialised; nothing changed{unused}")


@click.group(cls=OnceGroup, short_help="Register, list, disable and enable users; set roles.")
def user() -> None:
    """Register, list, disable and enable users and change their roles (admins only for
    changes)."""


@user.command("add")
@click.argument("name")
@click.option("--role", "roles", multiple=True, required=True,
              type=ProcessName(PROCESS, "role"),
              help=f"A role to grant (repeatable): {', '.join(PROCESS.roles)}.")
@click.option("--reason", type=REASON, help="Why (optional; kept in the user history).")
@json_option
@pass_app
def user_add(app: App, name: str, roles: tuple[str, ...], reason: str | None,
             as_json: bool) -> None:
    """Register user NAME with one or more roles."""
    added = app.workflow().add_user(name, list(roles), actor=app.actor, reason=reason)
    if as_json:
        emit_json(added)
    else:
        say(f"registered {added['name']} as {', '.join(added['roles'])}")


@user.command("list")
@click.option("--known-at", type=UNTIL,
              help="The users as the user log had them at this moment (YYYY-MM-DD or an ISO "
                   "8601 date-time, UTC; to the end of the day, minute or second it names): "
                   "who was registered, with which roles, enabled or not.")
@json_option
@pass_app
def user_list(app: App, known_at: datetime | None, as_json: bool) -> None:
    """List registered users and their roles (now, or at --known-at)."""
    rows = app.user_workflow().users(known_at)
    if as_json:
        emit_json(rows)
    else:
        table(rows, ["name", "roles", "active", "created_by", "created_at"], "no users")


@user.command("disable")
@click.argument("name")
@click.option("--reason", type=REASON, help="Why (optional; kept in the user history).")
@json_option
@pass_app
def user_disable(app: App, name: str, reason: str | None, as_json: bool) -> None:
    """Disable user NAME: they can no longer act or read. Their history stays."""
    wf = app.workflow()
    was = next((u for u in wf.users() if u["name"] == name), None)
    disabled = wf.disable_user(name, actor=app.actor, reason=reason)
    if as_json:
        emit_json(disabled)
    elif was is not None and not was["active"]:
        say(f"{disabled['name']} was already disabled; nothing changed")
    else:
        say(f"disabled {disabled['name']}")


@user.command("enable")
@click.argument("name")
@click.option("--reason", type=REASON, help="Why (optional; kept in the user history).")
@json_option
@pass_app
def user_enable(app: App, name: str, reason: str | None, as_json: bool) -> None:
    """Enable user NAME again, with the roles they held. Where the database authenticates by
    login, their login gets its database roles back at once."""
    wf = app.workflow()
    was = next((u for u in wf.users() if u["name"] == name), None)
    enabled = wf.enable_user(name, actor=app.actor, reason=reason)
    if as_json:
        emit_json(enabled)
    elif was is not None and was["active"]:
        say(f"{enabled['name']} is already enabled; nothing changed")
    else:
        say(f"enabled {enabled['name']} as {', '.join(enabled['roles'])}")


@user.command("set-roles")
@click.argument("name")
@click.option("--role", "roles", multiple=True, required=True,
              type=ProcessName(PROCESS, "role"),
              help=f"A role NAME holds from now on (repeatable; the roles not given are taken "
                   f"away): {', '.join(PROCESS.roles)}.")
@click.option("--reason", type=REASON, help="Why (optional; kept in the user history).")
@json_option
@pass_app
def user_set_roles(app: App, name: str, roles: tuple[str, ...], reason: str | None,
                   as_json: bool) -> None:
    """Give user NAME exactly the roles given, from now on.

    What they did before stays recorded with the roles they held then. The last active admin
    keeps admin. Where the database authenticates by login, their login's database roles
    follow at once."""
    changed = app.workflow().set_user_roles(name, list(roles), actor=app.actor, reason=reason)
    before = changed.pop("roles_before")
    if as_json:
        emit_json({**changed, "roles_before": before})
    elif before == changed["roles"]:
        say(f"{changed['name']} already holds {', '.join(before)}; nothing changed")
    else:
        say(f"{changed['name']} now holds {', '.join(changed['roles'])} "
            f"(held {', '.join(before)})")


@user.command("history", short_help="Every change to the users: who, when and why.")
@click.argument("name", required=False)
@json_option
@pass_app
def user_history(app: App, name: str | None, as_json: bool) -> None:
    """Every user (or user NAME) added, disabled, enabled or given other roles, with who did
    it, when and why (chained like the history).

    A change of roles shows the roles before it too (`drafter -> approver,drafter`), taken
    from the user's previous change in the log; --json gives them as `roles_before` (null at a
    user's first change, `add` or `found`, before which the log says nothing)."""
    rows = app.user_workflow().user_history(name)
    if as_json:
        emit_json(rows)
    else:
        table(({**row, "roles": _roles_changed(row)} for row in rows),
              ["seq", "at", "after_row", "action", "name", "roles", "active", "actor",
               "reason"], "no changes")


def _roles_changed(row: dict[str, Any]) -> Any:
    """``before -> after`` where the change gave other roles (``?`` before: the log names
    none), else the roles held."""
    before, after = row["roles_before"], row["roles"]
    if before == after or (before is None and row["action"] != "set_roles"):
        return after
    held = "?" if before is None else ",".join(str(role) for role in before)
    return f"{held} -> {','.join(str(role) for role in after)}"
