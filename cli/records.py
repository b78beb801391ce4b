"""`workflow request new|edit|list|show`: the records themselves."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import click

from cli.app import App, pass_app
from cli.once import OnceGroup
from cli.output import (
    counted,
    emit_json,
    emit_json_items,
    fields,
    json_option,
    printable,
    progress_bar,
    say,
    table,
)
from cli.types import EXPECTED_VERSION, UNTIL, FilePath, ProcessName, ValueKind
from states import PROCESS

LIST_COLUMNS = ["ref", "state", "item", "quantity", "recipient", "third_country",
                "decision_date", "drafted_by"]


def field_options(*, creating: bool) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """One option per editable field of the process, named as a person would type it."""

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        for spec in reversed([s for s in PROCESS.fields if s.editable]):
            option = click.option(
                "--" + spec.name.replace("_", "-"), spec.name, type=ValueKind(spec.kind),
                required=creating and spec.required,
                help=spec.help[:1].upper() + spec.help[1:] + ".",
            )
            command = option(command)
        return command

    return decorate


@click.group(cls=OnceGroup)
def request() -> None:
    """Draft, edit, list and show transfer requests."""


@request.command("new", short_help="Draft a new request and print its reference.")
@field_options(creating=True)
@json_option
@pass_app
def request_new(app: App, as_json: bool, **values: Any) -> None:
    """Draft a new transfer request and print its reference (drafters only)."""
    ref = app.workflow().create(actor=app.actor, **values)
    if as_json:
        emit_json({"ref": ref})
    else:
        click.echo(ref)


@request.command("import", short_help="Draft every record of FILE, all or nothing.")
@click.argument("file", type=FilePath(dir_okay=False, allow_dash=True))
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl"]),
              help="Default: JSON Lines for a .jsonl/.ndjson file or one whose first "
                   "non-blank line opens an object ({), else CSV.")
@json_option
@pass_app
def request_import(app: App, file: str, fmt: str | None, as_json: bool) -> None:
    """Draft every record of FILE in one transaction, all or nothing (drafters only).

    CSV has a header of field names (item, quantity, recipient, end_user, ...); JSON Lines has
    one object per line with the same names. Prints the new references in order.
    """
    from workflow import bulk

    drafted = [spec.name for spec in app.process.fields if spec.editable]
    numbered = bulk.numbered_drafts(file, fmt, drafted)  # malformed input is named before the
    records = [record for _, record in numbered]  # database is opened
    places = [f"{bulk.file_name(file)} line {line}" for line, _ in numbered]
    wf = app.workflow()
    with progress_bar(len(records), "drafting") as progress:
        refs = wf.create_many(records, actor=app.actor, progress=progress, places=places)
    if as_json:
        emit_json([{"ref": r} for r in refs])
    else:
        for ref in refs:
            click.echo(ref)
        say(f"{counted(len(refs), 'request')} drafted")


OPTIONAL = [s.name for s in PROCESS.fields if s.editable and not s.required]


@request.command("edit", short_help="Change fields of a drafted request (its drafter).")
@click.argument("ref")
@field_options(creating=False)
@click.option("--clear", "clear", multiple=True, metavar="FIELD",
              type=click.Choice(sorted({*OPTIONAL, *(n.replace("_", "-") for n in OPTIONAL)})),
              help="Empty an optional field (repeatable), named as its option is or with _: "
                   f"{', '.join(n.replace('_', '-') for n in OPTIONAL)}.")
@EXPECTED_VERSION
@json_option
@pass_app
def request_edit(app: App, ref: str, clear: tuple[str, ...], expected_version: int | None,
                 as_json: bool, **values: Any) -> None:
    """Change fields of a drafted request (its drafter only); records the changes."""
    from workflow.writes import edit_values

    clear = tuple(name.replace("-", "_") for name in clear)
    given = {k: v for k, v in values.items() if v is not None}
    edit_values(app.process, given, clear)  # malformed: said before the database is opened
    changes = app.workflow().edit(ref, actor=app.actor, clear=clear,
                                  expected_version=expected_version, **given)
    if as_json:
        emit_json({"ref": ref.strip().upper(), "changes": changes})
    elif changes:
        for name, (old, new) in changes.items():
            click.echo(f"{name}: {printable(old)} -> {printable(new)}")
    else:
        say("nothing changed: the values are already those")


AS_OF = click.option(
    "--as-of", type=UNTIL,
    help="Reconstruct from the history what was true then (YYYY-MM-DD or an ISO 8601 "
         "date-time, UTC; to the end of the day, minute or second it names).")


@request.command("list")
@click.option("--state", type=ProcessName(PROCESS, "state"),
              help=f"Only requests in this state: {', '.join(PROCESS.states)}.")
@AS_OF
@json_option
@pass_app
def request_list(app: App, state: str | None, as_of: datetime | None, as_json: bool) -> None:
    """List transfer requests, oldest first."""
    wf = app.user_workflow()
    rows = (wf.list_rows(state=state) if as_of is None
            else wf.list_as_of_rows(as_of, state=state))
    if as_json:
        emit_json_items(rows)
    else:
        table(rows, LIST_COLUMNS, "no requests")


@request.command("show", short_help="A request's fields, state and the events you may fire.")
@click.argument("ref")
@AS_OF
@json_option
@pass_app
def request_show(app: App, ref: str, as_of: datetime | None, as_json: bool) -> None:
    """Show a request's fields, its state, and which events you may fire now (and why not).

    With --as-of, the state and fields the history says it had then (without events).
    """
    if as_of is not None:
        record = app.user_workflow().get_as_of(ref, as_of)
    else:
        record = app.workflow().get(ref, actor=app.actor)
    if as_json:
        emit_json(record)
        return
    fields([(k, v) for k, v in record.items() if k != "events"])
    events = record.get("events", [])
    if events:
        click.echo("\nevents you may fire now:")
    width = max((len(e["event"]) for e in events), default=0)
    for event in events:
        mark = "yes" if event["allowed"] else "no "
        why = f"  {event['reason']}" if not event["allowed"] else _later_checks(event["event"])
        click.echo(f"  {mark}  {event['event'].ljust(width)}{why}".rstrip())


def _later_checks(name: str) -> str:
    """The rules that read the reason or the arguments, checked only when the event is fired."""
    later = [r.name for r in PROCESS.event(name).rules if r.uses_args]
    return f"  (when fired, also: {', '.join(later)})" if later else ""


