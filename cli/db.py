"""`workflow db current|upgrade`: the schema revision and its migrations."""

from __future__ import annotations

import click

from cli.app import App, pass_app
from cli.once import OnceGroup
from cli.output import emit_json, json_option, say


@click.group(cls=OnceGroup, short_help="Schema revision, upgrading it, PostgreSQL roles.")
def db() -> None:
    """The database: its schema revision, upgrading it, and PostgreSQL's own roles."""


@db.command("current")
@json_option
@pass_app
def db_current(app: App, as_json: bool) -> None:
    """Print the database's schema revision and this program's."""
    from workflow.engine import Workflow

    info = Workflow.schema_revision(app.db)
    if as_json:
        emit_json(info)
    else:
        click.echo(f"database: {info['current'] or '(none)'}  program: {info['head']}")


@db.command("upgrade", short_help="Migrate to this program's schema revision (data kept).")
@json_option
@pass_app
def db_upgrade(app: App, as_json: bool) -> None:
    """Migrate the database to this program's schema revision (data kept)."""
    from workflow.engine import Workflow

    result = Workflow.upgrade(app.db)
    if as_json:
        emit_json(result)
    elif result["from"] == result["to"]:
        say(f"already at revision {result['to']}; nothing to do")
    else:
        say(f"upgraded from revision {result['from']} to {result['to']}")


@db.command("grant", short_help="PostgreSQL: one database role per workflow role.")
@json_option
@pass_app
def db_grant(app: App, as_json: bool) -> None:
    """PostgreSQL only: create a database role per workflow role and let the database say who acts.

    Each role gets the least it needs (auditors read only; nobody may update or delete history).
    Registered users who have a login of the same name are granted their roles' database roles.
    From then on the actor is the database login, and --as naming anyone else is refused.
    Run it as an admin whose connection may create roles; run it again after adding users.
    """
    result = app.workflow().grant_database_roles(actor=app.actor)
    if as_json:
        emit_json(result)
    else:
        logins = ", ".join(f"{n} ({', '.join(r)})" for n, r in result["logins"].items())
        say(f"database roles {', '.join(result['roles'])} granted in schema {result['schema']}; "
            f"logins: {logins or 'none matched a registered user'}")
