"""`workflow db current|upgrade`: the schema revision and its migrations."""

from __future__ import annotations

import click

from cli.app import App, pass_app
from cli.output import emit_json, json_option, say


@click.group()
def db() -> None:
    """The database schema: which revision it is at, and upgrading it."""


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


@db.command("upgrade")
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
