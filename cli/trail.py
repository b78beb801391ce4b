"""`workflow advance`, `history` and `due`: moving requests and reading their trail."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

import click

from cli.app import App, pass_app
from cli.filters import filters, history_filters, note_unknown_actor
from cli.once import OnceCommand
from cli.output import (
    counted,
    emit_json,
    emit_json_items,
    json_option,
    printable,
    progress_bar,
    say,
    streamed,
    table,
)
from cli.records import LIST_COLUMNS
from cli.types import COUNTRY, DATE, EXPECTED_VERSION, REASON, FilePath, ProcessName
from states import PROCESS
from workflow.clock import as_utc
from workflow.errors import stored_changes
from workflow.values import span

OPTION_NAMES = {"country": "--country", "decision_date": "--decision-date"}


@click.command(help=f"""Fire EVENT on request REF, if its state, your roles and every rule allow.

With --from FILE (CSV rows reference,event[,reason[,country[,decision_date[,expected_version]]]];
- for stdin), fire every row in one transaction instead: all or nothing.

\b
Events:
{chr(10).join(f"  {e.name:<22} {e.help}" for e in PROCESS.events)}
""", cls=OnceCommand, short_help="Fire EVENT on REF, if its state, roles and rules allow.")
@click.argument("ref", required=False)
@click.argument("event", required=False, type=ProcessName(PROCESS, "event"))
@click.option("--reason", type=REASON, help="Why (required by return, deny, withdraw, defer).")
@click.option("--country", type=COUNTRY,
              help="Third country, ISO 3166-1 alpha-2 (request_third_country).")
@click.option("--decision-date", type=DATE,
              help="YYYY-MM-DD: when the third-country decision is due "
                   "(request_third_country: default 1 January next year; defer: required).")
@EXPECTED_VERSION
@click.option("--from", "source", type=FilePath(dir_okay=False, allow_dash=True),
              help="Fire the rows of this CSV file instead, all or nothing.")
@json_option
@pass_app
def advance(app: App, ref: str | None, event: str | None, reason: str | None,
            country: str | None, decision_date: date | None, expected_version: int | None,
            source: str | None, as_json: bool) -> None:
    if source is not None:
        if (ref is not None or event is not None or reason or country or decision_date
                or expected_version is not None):
            raise click.UsageError("give either REF EVENT [options] or --from FILE, not both")
        from workflow import bulk

        numbered = bulk.numbered_firings(source, app.process.arguments)
        firings = [firing for _, firing in numbered]
        places = [f"{bulk.file_name(source)} line {line}" for line, _ in numbered]
        wf = app.workflow()
        with progress_bar(len(firings), "firing") as progress:
            states = wf.fire_many(firings, actor=app.actor, progress=progress, places=places)
        results = [{"ref": f["ref"].strip().upper(), "event": f["event"], "state": s}
                   for f, s in zip(firings, states, strict=True)]
        if as_json:
            emit_json(results)
        else:
            table(results, ["ref", "event", "state"], "nothing fired")
            say(f"{counted(len(results), 'firing')} applied")
        return
    if ref is None or event is None:
        missing = "REF and EVENT" if ref is None else "EVENT"
        raise click.UsageError(f"missing {missing} (or --from FILE)")
    args = {"country": country, "decision_date": decision_date}
    app.process.event(event).check_arguments(args, OPTION_NAMES)
    wf = app.workflow()
    state = wf.fire(ref, event, actor=app.actor, reason=reason,
                    expected_version=expected_version, **args)
    if as_json:
        emit_json({"ref": ref.strip().upper(), "event": event, "state": state})
    else:
        click.echo(state)
        say(f"{ref.strip().upper()}: {event} done; now {state}")


@click.command(cls=OnceCommand, short_help="The audit trail of REF: who did what, when and why.")
@click.argument("ref")
@filters
@json_option
@pass_app
def history(app: App, ref: str, as_json: bool, **filter_values: Any) -> None:
    """The audit trail of request REF, oldest first: who did what, when, why, what changed."""
    span(filter_values["since"], filter_values["until"])  # said before the database opens
    wf = app.user_workflow()
    rows = wf.log_rows(ref=ref, **history_filters(filter_values))
    found = emit_json_items(rows) if as_json else print_trail(rows)
    note_unknown_actor(wf.users, filter_values["actor"], bool(found))


def print_trail(rows: Iterable[dict[str, Any]], *, with_ref: bool = False) -> int:
    """One block per row: when, what, who, why, each changed field (``-`` for empty), the
    restrictions it consulted, and the process version where it differs from the row before's
    (on the first row, always); returns how many rows there were."""
    version = None
    count = 0
    with streamed() as write:
        for row in rows:
            count += 1
            moment = row["at"][:19].replace("T", " ") + "Z"
            source = row["from"] or "(none)"
            ref = f"{row['ref']}  " if with_ref else ""
            write(f"#{row['seq']}  {moment}  {ref}{row['event']}: {source} -> {row['to']}"
                  f"  by {row['actor']} {_acting(row)}\n")
            if row["reason"]:
                write(f"      reason: {printable(row['reason'])}\n")
            for name, (old, new) in stored_changes(row["changes"]).items():
                write(f"      {name}: {printable(old)} -> {printable(new)}\n")
            consulted = _consulted(row["consulted"])
            if consulted:
                write(f"      consulted: {consulted}\n")
            if row["process_version"] != version:
                version = row["process_version"]
                write(f"      process: {printable(version)}\n")
    if not count:
        say("no history rows")
    return count


def _consulted(consulted: Any) -> str:
    """The restrictions a row consulted, by subject: ``as of 2026-11-27: US none; UA in-combat
    since 2022-02-24 (in force)``; empty when it consulted none."""
    if not isinstance(consulted, dict) or not isinstance(consulted.get("restrictions"), dict):
        return ""
    subjects = []
    for subject, entries in consulted["restrictions"].items():
        if not isinstance(entries, list) or not entries:
            subjects.append(f"{printable(subject)} none")
            continue
        for entry in entries:
            if not isinstance(entry, dict):
                continue
            until = f" until {printable(entry['until'])}" if entry.get("until") else ""
            force = {True: " (in force)", False: " (not in force)"}.get(entry.get("in_force"), "")
            subjects.append(f"{printable(subject)} {printable(entry.get('kind'))} since "
                            f"{printable(entry.get('since'))}{until}{force}")
    if not subjects:
        return ""
    return f"as of {printable(consulted.get('as_of'))}: " + "; ".join(subjects)


def _acting(row: dict[str, Any]) -> str:
    """``as approver (also holds admin)``; rows from before the role acted under was kept list
    the roles held: ``(admin, approver)``."""
    acted, held = row.get("acted_as"), [printable(r) for r in row["roles"]]
    if not isinstance(acted, list) or not acted:  # not kept (or, altered, not a list of roles)
        return f"({', '.join(held)})"
    acted = [printable(r) for r in acted]
    others = [role for role in held if role not in acted]
    also = f" (also holds {', '.join(others)})" if others else ""
    return f"as {' and '.join(acted)}{also}"


@click.command(cls=OnceCommand, short_help="Requests you may act on now, with the events.")
@click.option("--event", type=ProcessName(PROCESS, "event"),
              help="Only requests you may fire this event on (listing that event alone).")
@json_option
@pass_app
def todo(app: App, event: str | None, as_json: bool) -> None:
    """Requests you may act on now, oldest first, with the events you may fire on each.

    An event is listed when the request's state, your roles and every rule that needs no
    reason or argument allow it; those that do are checked when you fire it (see `request show
    REF`)."""
    rows = app.workflow().actionable_rows(app.actor, event)
    if as_json:
        emit_json_items(rows)
        return
    table(({**row, "events": ", ".join(row["events"])} for row in rows),
          ["ref", "state", "events", *LIST_COLUMNS[2:]], "nothing awaits you")


@click.command(cls=OnceCommand)
@click.option("--on", "on", type=DATE,
              help="The day whose due decisions to list (YYYY-MM-DD; default: today, UTC).")
@json_option
@pass_app
def due(app: App, on: date | None, as_json: bool) -> None:
    """Third-country reviews whose decision date has come.

    The reviews pending now, held to --on's day: what will be due by then. What was pending
    on a past day: `request list --as-of DAY --state third_country_review`."""
    wf = app.user_workflow()
    rows = wf.due(on)
    if on is not None and on < as_utc(wf.clock()).date():
        say(f"note: these are the reviews pending now; what was pending on {on.isoformat()}: "
            f"`request list --as-of {on.isoformat()} --state {wf.process.due_state}`")
    if as_json:
        emit_json(rows)
    else:
        table(rows, LIST_COLUMNS, "nothing is due")
