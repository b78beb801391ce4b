"""`workflow audit ...`: verify the log, checkpoints, proofs, exports, refusals, reports."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from cli.app import App, pass_app
from cli.filters import (
    filters,
    history_filters,
    note_unknown_actor,
    note_unknown_ref,
    note_unknown_rule,
)
from cli.once import OnceGroup
from cli.output import (
    counted,
    emit_json,
    emit_json_items,
    json_option,
    printable,
    progress_bar,
    say,
    table,
)
from cli.trail import print_trail
from cli.types import SINCE, UNTIL, FilePath, ProcessName
from states import PROCESS
from workflow.errors import InvalidInput
from workflow.values import file_name, span

FILE = FilePath(dir_okay=False, path_type=Path)
EXISTING = FilePath(dir_okay=False, exists=True, path_type=Path)
force_option = click.option("--force", is_flag=True,
                            help="Replace the output file if it exists (never the database).")


@click.group(cls=OnceGroup, short_help="Verify, question and export the tamper-evident history.")
def audit() -> None:
    """Check and question the tamper-evident history (any registered user; keygen,
    check-proof and check-export --offline: anyone)."""


@audit.command("verify", short_help="Recompute every hash and root; check every request.")
@click.option("--since", "checkpoint", type=EXISTING,
              help="A checkpoint file: also prove nothing up to it was rewritten or cut off.")
@click.option("--pubkey", type=EXISTING, help="Public key the checkpoint must be signed with.")
@click.option("--jobs", type=click.IntRange(min=1, max=32), default=None, metavar="N",
              help="Worker processes sharing the work (default: one per CPU for a log of "
                   "100,000 rows or more, else 1).")
@click.option("--rules", is_flag=True,
              help="Also judge every row again by its process's rules (separation of duties, "
                   "dates, restrictions, reasons, arguments): a pass more over the log.")
@json_option
@pass_app
def audit_verify(app: App, checkpoint: Path | None, pubkey: Path | None, jobs: int | None,
                 rules: bool, as_json: bool) -> None:
    """Recompute every leaf and root of the log and check every request against it.

    Exits 1 naming the first bad row (sequence number, request, what is wrong).
    """
    if pubkey is not None and checkpoint is None:
        raise click.UsageError("--pubkey checks a checkpoint's signature: give --since too")
    wf = app.user_workflow()
    with progress_bar(wf.export_size() * (1 + rules), "verifying") as progress:
        result = wf.verify(since=checkpoint, pubkey=pubkey, progress=progress, jobs=jobs,
                           rules=rules)
    if checkpoint is not None and pubkey is None and result["consistency"]["signed"]:
        say("note: the checkpoint is signed but its signature was not checked (give --pubkey)")
    if as_json:
        emit_json(result)
        return
    click.echo(f"ok: {counted(result['rows'], 'row')}, {counted(result['records'], 'request')}"
               f", root {result['root']}")
    click.echo(f"ok: {counted(result['refusals'], 'refusal')}, chain unbroken")
    if result["unchained_refusals"]:
        click.echo(f"warning: {counted(result['unchained_refusals'], 'more refusal')} outside "
                   "the chain (recorded before it existed, or added behind the program's back): "
                   "nothing vouches for them")
    click.echo(f"ok: {counted(result['policy_changes'], 'policy change')}, chain unbroken; the "
               "restrictions follow from them")
    click.echo(f"ok: {counted(result['user_changes'], 'user change')}, chain unbroken; the "
               "users follow from them")
    behind = result["stamped_behind"]
    if behind:
        click.echo(f"warning: {behind['entry']} is stamped {behind['at']}, more than a day "
                   f"before {behind['after']} ({behind['after_at']}), which the log holds "
                   f"before it: a writer's clock was behind at {behind['entry']} (or it was "
                   f"back-dated), or ahead at {behind['after']}; answers --as-of around them "
                   "may be off")
    ahead = result["stamped_ahead"]
    if ahead:
        click.echo(f"warning: row {ahead['seq']} is stamped {ahead['at']}, more than a day after "
                   f"this clock ({ahead['now']}): a writer's clock was ahead (or the row was "
                   "dated forward), and its rules were judged as of that later day")
    missing = result["missing_protections"]
    if missing:
        some = "triggers" if len(missing) > 1 else "trigger"
        are, those = ("are", "those logs") if len(missing) > 1 else ("is", "that log")
        click.echo(f"warning: the append-only {some} {', '.join(missing)} {are} missing "
                   f"(dropped): the database no longer refuses changes to {those} in place; "
                   "verify finds what was changed, not that nothing will be")
    if result["altered_protections"]:
        click.echo("warning: not the program's, or not as it made them (disabled, given a "
                   f"condition or rewritten): {'; '.join(result['altered_protections'])}. Such "
                   "a thing can let the logs be changed in place, or drop what the program "
                   "writes, such as a refusal, without a trace in any chain")
    if rules:
        click.echo(f"ok: {counted(result['rules_judged'], 'row')} judged again by the process's "
                   "rules: each one they allow")
        unjudged = result["rows"] - result["rules_judged"]
        if unjudged:  # so an auditor sees how much of the log the rules vouch for
            click.echo(f"note: {counted(unjudged, 'row')} replayed, not judged: written by an "
                       "earlier version of the process, or before user and policy changes kept "
                       "their place in the log (revision 0012); a checkpoint taken before is "
                       "what vouches for them")
    if "consistency" in result:
        consistency = result["consistency"]
        parts = [counted(consistency["checkpoint_size"], "row")] + [
            counted(consistency[key], what)
            for key, what in (("checkpoint_refusals", "refusal"),
                              ("checkpoint_policy_changes", "policy change"),
                              ("checkpoint_user_changes", "user change"))
            if consistency[key] is not None]
        listed = parts[0] if len(parts) == 1 else f"{', '.join(parts[:-1])} and {parts[-1]}"
        signed = " (signature checked)" if consistency.get("signature_checked") else ""
        click.echo(f"ok: consistent with the checkpoint of {listed}{signed}")


@audit.command("checkpoint", short_help="Print (and sign) the tree size and root to keep.")
@click.option("--sign", "key", type=EXISTING, help="Sign with this Ed25519 private key file.")
@click.option("-o", "--output", type=FILE, help="Write to this file instead of stdout.")
@force_option
@click.option("--json", "as_json", is_flag=True,
              help="Accepted, as other commands take it: a checkpoint is JSON either way.")
@pass_app
def audit_checkpoint(app: App, key: Path | None, output: Path | None, force: bool,
                     as_json: bool) -> None:
    """Print a checkpoint to keep or publish: tree size and root, time, and the refusal,
    policy and user logs' counts and last links."""
    if output is not None:
        _refuse(app, output, force, "leave out -o to print the checkpoint to stdout")
    cp = app.user_workflow().checkpoint(key=key)
    text = json.dumps(cp, indent=2) + "\n"
    if output is None:
        click.echo(text, nl=False)
    else:
        _write(output, text, force)
        say(f"checkpoint of {cp['size']} rows written to {file_name(output)}")


@audit.command("keygen", short_help="Make an Ed25519 key pair for signing checkpoints.")
@click.option("-o", "--output", type=FILE, default=Path("workflow-audit.key"), show_default=True,
              help="Private key file; the public key goes beside it as FILE.pub.")
@json_option
@pass_app
def audit_keygen(app: App, output: Path, as_json: bool) -> None:
    """Make an Ed25519 key pair for signing checkpoints (never stored in the database)."""
    from workflow import signing

    signing.refuse_existing(output)  # an existing file is refused, --force or not
    _refuse(app, output, True, "keys are written to files; give a file name",
            output.with_name(output.name + ".pub"))
    private, public = signing.keygen(output)
    if as_json:
        emit_json({"private_key": str(private), "public_key": str(public)})
    else:
        say(f"private key: {file_name(private)} (keep it secret)\n"
            f"public key:  {file_name(public)}")


@audit.command("prove", short_help="Write REF's rows with an inclusion proof for each.")
@click.argument("ref")
@click.option("--checkpoint", required=True, type=EXISTING, help="The checkpoint to prove against.")
@click.option("-o", "--output", required=True, type=FILE, help="Where to write the proof.")
@force_option
@json_option
@pass_app
def audit_prove(app: App, ref: str, checkpoint: Path, output: Path, force: bool,
                as_json: bool) -> None:
    """Write REF's rows with an inclusion proof for each, checkable without the database."""
    _refuse(app, output, force, "a proof is written to a file; give its name")
    bundle = app.user_workflow().prove(ref, checkpoint)
    _write(output, json.dumps(bundle, indent=2, ensure_ascii=False) + "\n", force)
    if as_json:
        emit_json({"ref": bundle["ref"], "rows": len(bundle["rows"]),
                   "checkpoint_size": bundle["checkpoint"]["size"], "output": str(output)})
    else:
        say(f"{len(bundle['rows'])} rows of {bundle['ref']} proven against "
            f"{bundle['checkpoint']['size']} rows; written to {file_name(output)}")


@audit.command("check-proof", short_help="Verify a proof file, without the database.")
@click.argument("file", type=EXISTING)
@click.option("--pubkey", type=EXISTING, help="Public key the checkpoint must be signed with.")
@json_option
def audit_check_proof(file: Path, pubkey: Path | None, as_json: bool) -> None:
    """Verify a proof file from `audit prove`, without any database."""
    from workflow.auditing import Auditing

    try:
        bundle = json.loads(file.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise InvalidInput(f"{file_name(file)} is not a proof file (not JSON)") from None
    result = Auditing.check_proof(bundle, pubkey=pubkey)
    if pubkey is None and result["signed"]:
        say("note: the checkpoint is signed but its signature was not checked (give --pubkey)")
    if as_json:
        emit_json(result)
    else:
        signed = " (signature checked)" if result["signature_checked"] else ""
        ref, last = printable(result["ref"]), result["last"]  # an unsigned file says anything
        click.echo(f"ok: {result['rows']} rows of {ref} are in the log of "
                   f"{result['checkpoint_size']} rows, from its drafting on, none left out "
                   f"between them{signed}")
        click.echo(f"it ends at row {last['seq']} ({printable(last['event'])}, "
                   f"{printable(last['at'])}), leaving {ref} {printable(last['state'])}: rows "
                   "after its last cannot show")
        if not result["counted"]:
            say("note: its last row was written before rows kept their request's version "
                "(revision 0010): a row left out before it that leaves the state as it found "
                "it would not show")


@audit.command("refusals", short_help="Refused attempts: who tried what, which rule said no.")
@click.option("--actor", metavar="NAME", help="Only attempts by this user.")
@click.option("--ref", metavar="REF",
              help="Only attempts on this request (in any case; spaces around it dropped).")
@click.option("--event", "events", multiple=True, type=ProcessName(PROCESS, "refused-event"),
              help="Only attempts at this event (a process event, create, edit, access, batch "
                   "or an admin command such as 'user add'); repeat it for any of several.")
@click.option("--rule", metavar="RULE",
              help="Only refusals by this rule, named as recorded (role, state, conflict, "
                   "separation-of-duties...); a name no refusal and no rule of this program "
                   "has gets a note listing the rules.")
@click.option("--since", type=SINCE, help="From this moment (YYYY-MM-DD or ISO 8601).")
@click.option("--until", type=UNTIL,
              help="Up to the end of this moment (a bare date its whole day, 10:30 its whole "
                   "minute).")
@json_option
@pass_app
def audit_refusals(app: App, actor: str | None, ref: str | None, events: tuple[str, ...],
                   rule: str | None, since: datetime | None, until: datetime | None,
                   as_json: bool) -> None:
    """Refused attempts, oldest first: who tried what, on which request, which rule refused
    and why; the filters narrow them."""
    span(since, until)  # said before the database opens
    wf = app.user_workflow()
    rows = wf.refusals_rows(actor=actor, since=since, until=until, ref=ref, rule=rule,
                            event=list(events) or None)
    if as_json:
        found = emit_json_items(rows)
    else:
        found = table(rows, ["seq", "at", "actor", "ref", "event", "state", "rule", "message"],
                      "no refusals")
    note_unknown_actor(wf.users, actor, bool(found))
    note_unknown_ref(wf.get, ref, bool(found))
    note_unknown_rule(wf.refusal_rules, rule, bool(found))


@audit.command("log")
@filters
@json_option
@pass_app
def audit_log(app: App, as_json: bool, **filter_values: Any) -> None:
    """History rows across all requests, oldest first, filtered."""
    span(filter_values["since"], filter_values["until"])  # said before the database opens
    wf = app.user_workflow()
    rows = wf.log_rows(**history_filters(filter_values))
    found = emit_json_items(rows) if as_json else print_trail(rows, with_ref=True)
    note_unknown_actor(wf.users, filter_values["actor"], bool(found))


def _span(seconds: float) -> str:
    """A stay, in whole seconds: ``3d 04:05:06``, or ``04:05:06`` under a day (``--json``
    keeps the seconds to the microsecond)."""
    days, rest = divmod(int(seconds), 86400)
    hours, rest = divmod(rest, 3600)
    text = f"{hours:02d}:{rest // 60:02d}:{rest % 60:02d}"
    return f"{days}d {text}" if days else text


@audit.command("report", short_help="Time in each state, decisions per actor, SoD breaches.")
@click.option("--as-of", type=UNTIL,
              help="As the log stood at this moment (YYYY-MM-DD or an ISO 8601 date-time, UTC; "
                   "to the end of the day, minute or second it names): the current states "
                   "counted up to it.")
@json_option
@pass_app
def audit_report(app: App, as_of: datetime | None, as_json: bool) -> None:
    """Time spent in each state, decisions per actor, and separation-of-duties breaches: each
    with the earlier rows in which the same person did what the rule excludes, and why."""
    report = app.user_workflow().report(as_of)
    if as_json:
        emit_json(report)
        return
    click.echo("Time in each state, per request (days and hh:mm:ss; the current state, marked "
               f"'so far', until {report['at']}):")
    table([{"ref": r["ref"], "state": r["state"],
            "time_in_state": ", ".join(f"{s} {_span(v)}" + (" so far" if s == r["state"] else "")
                                       for s, v in r["seconds_in_state"].items())}
           for r in report["requests"]], ["ref", "state", "time_in_state"], "  none",
          within=True)
    click.echo("\nTime in state (across requests; stays still going counted so far):")
    table([{"state": s, "requests": v["requests"], "median": _span(v["median_seconds"]),
            "max": _span(v["max_seconds"])} for s, v in report["states"].items()],
          ["state", "requests", "median", "max"], "  none", within=True)
    click.echo("\nDecisions per actor:")
    table([{"actor": a, "decisions": ", ".join(f"{e} {n}" for e, n in d.items())}
           for a, d in report["decisions"].items()], ["actor", "decisions"], "  none",
          within=True)
    breaches = report["separation_of_duties"]
    click.echo(f"\nSeparation of duties: {len(breaches)} breach(es)")
    table(breaches, ["ref", "seq", "event", "actor"], "  none: no decision was taken by someone "
          "the separation of duties excludes", within=True)
    for breach in breaches:
        click.echo(f"  {printable(breach['why'])}")


@audit.command("export", short_help="Stream a log's rows to a file, with a manifest.")
@click.option("--log", type=click.Choice(["history", "refusals", "policy", "users"]),
              default="history", show_default=True,
              help="Which log: the history (Merkle log) or a hash-chained one.")
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl"]), required=True,
              help="CSV or JSON Lines (each line the canonical bytes of a row).")
@click.option("--since", type=SINCE,
              help="Rows from this moment (YYYY-MM-DD or ISO 8601; a bare date from its "
                   "start, UTC).")
@click.option("--until", type=UNTIL,
              help="Rows up to the end of this moment (a bare date its whole day, 10:30 its "
                   "whole minute).")
@click.option("-o", "--output", required=True, type=FILE, help="The file to write.")
@click.option("--sign", "key", type=EXISTING,
              help="Sign the manifest and its checkpoint with this Ed25519 private key file.")
@force_option
@json_option
@pass_app
def audit_export(app: App, log: str, fmt: str, since: datetime | None,
                 until: datetime | None, output: Path, key: Path | None, force: bool,
                 as_json: bool) -> None:
    """Stream a log's rows to a file, with a manifest beside it: count, checkpoint, SHA-256,
    and what lets `check-export --offline` tie the rows to the checkpoint without the
    database (the history's subtree hashes; a chained log's links before and at its ends).
    --log refusals, policy or users: each line the row as its chain link hashes it, with its
    seq and link."""
    from workflow.exports import manifest_path, refuse_signing_key

    span(since, until)  # in order, said before the database is opened
    refuse_signing_key([output, manifest_path(output)], key)
    _refuse(app, output, force, "an export needs a file, for its manifest goes beside it",
            manifest_path(output))
    wf = app.user_workflow()
    with progress_bar(wf.export_size(since=since, until=until, log=log),
                      "exporting") as progress:
        manifest = wf.export(output, fmt, since=since, until=until, progress=progress,
                             force=force, key=key, log=log)
    if as_json:
        emit_json(manifest)
    else:
        say(f"{manifest['rows']} rows written to {file_name(output)}; manifest beside it")


@audit.command("check-export", short_help="Verify an export against its manifest and the log.")
@click.argument("file", type=EXISTING)
@click.option("--pubkey", type=EXISTING,
              help="Public key the manifest and its checkpoint must be signed with.")
@click.option("--offline", is_flag=True,
              help="Without the database: the rows and the manifest's hashes (a chained "
                   "log's links) must give the checkpoint's root (link); that none was left "
                   "out rests on the signature.")
@json_option
@pass_app
def audit_check_export(app: App, file: Path, pubkey: Path | None, offline: bool,
                       as_json: bool) -> None:
    """Verify an export against its manifest and against the log (or, with --offline, against
    the checkpoint in its manifest alone)."""
    if offline:
        from workflow import Workflow

        result = Workflow.check_export_offline(file, pubkey=pubkey)
    else:
        result = app.user_workflow().check_export(file, pubkey=pubkey)
    if as_json:
        emit_json(result)
        return
    log = result.get("log", "history")
    against = "the log" if result["checked_against"] == "database" else "its checkpoint"
    if log != "history":
        against = (f"the {log} log" if result["checked_against"] == "database"
                   else "its links")
    signed = " (signature checked)" if result["signature_checked"] else ""
    verb = "matches" if result["rows"] == 1 else "match"
    click.echo(f"ok: {counted(result['rows'], 'row')} {verb} the manifest and {against}{signed}")
    if result["checked_against"] != "database" and not result["signature_checked"]:
        unchecked = "its signature was not checked, so " if result["signed"] else ""
        if log == "history":
            say(f"note: {unchecked}nothing vouches for that checkpoint "
                f"({result['checkpoint_size']} rows, root {result['checkpoint_root']}): give "
                "--pubkey, or compare its root with a checkpoint you trust")
        else:
            say(f"note: {unchecked}nothing vouches for that checkpoint "
                f"({result['checkpoint_count']} {log} rows, last link "
                f"{result['checkpoint_link']}): give --pubkey, or compare the link with a "
                "checkpoint you trust")
    elif result["signed"] and not result["signature_checked"]:
        say("note: the manifest is signed but its signature was not checked (give --pubkey)")


def _refuse(app: App, output: Path, force: bool, why_not_stdout: str, *beside: Path) -> None:
    """Bad output files are refused before anything is looked up or written: ``-`` (these
    outputs are files), the database or its companions, an existing file without --force."""
    from workflow.exports import database_file, refuse_outputs

    if str(output) == "-":
        raise click.UsageError(f"-o -: {why_not_stdout}")
    refuse_outputs([output, *beside], database_file(app.db), force=force)


def _write(path: Path, text: str, force: bool) -> None:
    from workflow.exports import replacing

    with replacing(path, force=force) as out:
        out.write(text)
