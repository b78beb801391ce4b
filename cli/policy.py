"""`workflow policy list|add|end|history`: the dated country restrictions."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import click

from cli.app import App, pass_app
from cli.once import OnceGroup
from cli.output import counted, emit_json, emit_json_items, json_option, say, table
from cli.types import COUNTRY, DATE, REASON, UNTIL, ProcessName
from states import PROCESS
from workflow.errors import WorkflowError


@click.group(cls=OnceGroup, short_help="The dated country restrictions every decision reads.")
def policy() -> None:
    """The dated list of country restrictions every decision reads (changes: admins only)."""


@policy.command("list", short_help="List the restrictions (or those in force on --as-of).")
@click.option("--as-of", type=DATE,
              help="Only the restrictions in force on this day (YYYY-MM-DD), by their dates "
                   "as they stand now; one recorded after the day (back-dated) is marked with "
                   "when it was.")
@click.option("--known-at", type=UNTIL,
              help="The restrictions as recorded at this moment (YYYY-MM-DD or an ISO 8601 "
                   "date-time, UTC; to the end of the day, minute or second it names): "
                   "restrictions added and ends recorded later are left out.")
@json_option
@pass_app
def policy_list(app: App, as_of: date | None, known_at: datetime | None,
                as_json: bool) -> None:
    """List the restrictions (all of them, or those in force on --as-of).

    --as-of reads their dates as they stand now, so an end recorded later for an earlier day
    shows, and so does a restriction recorded after the day with a start before it: its since
    is marked "(recorded DATE, after that day)", and --json gives every row `recorded_at` and
    `recorded_after`. Add --known-at to see them as the policy stood at a past moment (--as-of
    DAY --known-at DAY: what was known on the day)."""
    rows = app.user_workflow().policy(as_of, known_at)
    if as_json:
        emit_json(rows)
        return
    from workflow.policy import called_off

    shown = [{**row, "until": f"{row['until']} (called off)"}
             if called_off(row["since"], row["until"]) else row for row in rows]
    if as_of is None:
        table(shown, ["country", "kind", "since", "until", "reason"], "no restrictions")
        return
    shown = [{**row, "since": f"{row['since']} {_recorded(row, as_of)}"}
             if row["recorded_after"] is not False else row for row in shown]
    table(shown, ["country", "kind", "since", "until", "reason"], "no restrictions")
    later = sum(1 for row in rows if row["recorded_after"])
    if later:
        day = as_of.isoformat()
        say(f"note: {counted(later, 'restriction')} in force on {day} by their dates "
            f"{'was' if later == 1 else 'were'} recorded after that day; `workflow policy list "
            f"--as-of {day} --known-at {day}` shows what was known on it")


def _recorded(row: dict[str, Any], day: date) -> str:
    """``(recorded 2026-12-01, after that day)``; a stamp not after the day is a writer's clock
    behind the log's order, which decides."""
    if row["recorded_at"] is None:
        return "(not in the policy log)"
    stamped = row["recorded_at"][:10]
    if stamped > day.isoformat():
        return f"(recorded {stamped}, after that day)"
    return f"(recorded after that day by the log's order; stamped {stamped})"


@policy.command("add", short_help="Restrict COUNTRY from --since on (admins).")
@click.argument("country", type=COUNTRY)
@click.option("--kind", required=True, type=ProcessName(PROCESS, "kind"),
              help=f"One of: {', '.join(PROCESS.policy_kinds)}.")
@click.option("--since", required=True, type=DATE, help="First day in force (YYYY-MM-DD).")
@click.option("--reason", type=REASON, help="Why, and its source (required).")
@json_option
@pass_app
def policy_add(app: App, country: str, kind: str, since: date, reason: str | None,
               as_json: bool) -> None:
    """Restrict COUNTRY from --since on; says how many decisions it touches (see `policy
    affected`)."""
    wf = app.workflow()
    entry = wf.restrict(country, kind, since, reason=reason, actor=app.actor)
    if as_json:
        emit_json(entry)
    else:
        say(f"{country} restricted ({kind}) since {since.isoformat()}")
    try:
        day, touched = wf.touched(country, since)
    except WorkflowError as error:  # the restriction stands: only the count is missing
        say(f"note: what it touches could not be read: {error}")
        return
    if touched:
        say(f"note: it touches {counted(touched, 'granted or pending event')}; see `workflow "
            f"policy affected --country {country} --on {day.isoformat()}`")


@policy.command("end", short_help="End COUNTRY's restrictions (or one --kind) from --on on.")
@click.argument("country", type=COUNTRY)
@click.option("--on", "on", required=True, type=DATE,
              help="First day the restriction is no longer in force (YYYY-MM-DD).")
@click.option("--kind", type=ProcessName(PROCESS, "kind"),
              help=f"End only the restriction of this kind (one of: "
                   f"{', '.join(PROCESS.policy_kinds)}); default: every one in force.")
@click.option("--reason", type=REASON, help="Why it ends (required).")
@json_option
@pass_app
def policy_end(app: App, country: str, on: date, kind: str | None, reason: str | None,
               as_json: bool) -> None:
    """End COUNTRY's restrictions (or only the one of --kind): not in force from --on on. One
    planned to start later is called off."""
    ended = app.workflow().end_restriction(country, on, reason=reason, actor=app.actor,
                                           kind=kind)
    if as_json:
        emit_json(ended)
    else:
        from workflow.policy import called_off

        off = [row for row in ended if called_off(row["since"], row["until"])]
        if len(off) < len(ended):
            ends = "ends" if len(ended) - len(off) == 1 else "end"
            say(f"{country}: {counted(len(ended) - len(off), 'restriction')} {ends} on "
                f"{on.isoformat()}")
        for row in off:
            say(f"{country}: the {row['kind']} restriction planned from {row['since']} is "
                "called off")


@policy.command("affected", short_help="Requests the restrictions in force touch.")
@click.option("--on", "on", type=DATE,
              help="The day whose restrictions in force count (YYYY-MM-DD; default: today, "
                   "UTC).")
@click.option("--country", "countries", multiple=True, type=COUNTRY,
              help="Only what restrictions on this country touch (repeatable).")
@json_option
@pass_app
def policy_affected(app: App, on: date | None, countries: tuple[str, ...],
                    as_json: bool) -> None:
    """Requests the restrictions in force touch: decisions granted that their rules would now
    refuse (to reassess) and events still to come that they will refuse.

    Each request is judged with its fields as they stand by the rules of its events that read
    the policy; rules that read a firing's arguments (a third country still to be named) are
    not. Run it after `policy add`, or with --on a restriction's first day to see what it will
    touch."""
    rows = app.user_workflow().affected_rows(on, countries or None)
    if as_json:
        emit_json_items(rows)
        return
    table(({**row, "restricted": _restricted(row["restrictions"])} for row in rows),
          ["ref", "state", "standing", "event", "granted_by", "granted_at", "rule",
           "restricted"], "no decision is touched")


def _restricted(entries: list[dict[str, Any]]) -> str:
    """``PL (in-combat since 2027-01-03 until 2027-03-01)``, for each restriction."""
    return ", ".join(f"{e['country']} ({e['kind']} since {e['since']}"
                     + (f" until {e['until']})" if e["until"] else ")") for e in entries)


@policy.command("history")
@json_option
@pass_app
def policy_history(app: App, as_json: bool) -> None:
    """Every change to the policy, with who made it, when and why."""
    rows = app.user_workflow().policy_history()
    if as_json:
        emit_json(rows)
    else:
        table(rows, ["seq", "at", "after_row", "action", "country", "kind", "since", "until",
                     "actor", "reason"], "no changes")
