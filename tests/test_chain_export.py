"""Exports of the hash-chained logs (refusals, policy changes, user changes): each line the row as
its link hashes it, with its seq and link; checked against the database, or offline by
recomputing the links from the manifest's link before to its last link and the checkpoint's."""

from __future__ import annotations

import csv
import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Cli, as_attacker, assert_one_line_error, draft
from workflow import Refused
from workflow.audit import AuditFailure
from workflow.errors import InvalidInput
from workflow.ledger import GENESIS

LOGS = ("refusals", "policy", "users")
CP_KEYS = {"refusals": ("refusals", "refusal_chain"), "policy": ("policy_changes", "policy_chain"),
           "users": ("user_changes", "user_chain")}
TABLES = {"refusals": "wf_refusal", "policy": "wf_policy_change", "users": "wf_user_change"}
# what the `chained` fixture leaves in each log (init seeds four restrictions and registers
# the admin; the cast is registered at 09:00)
COUNTS = {"refusals": 4, "policy": 6, "users": 10}
# the rows stamped in [11:30, 16:30] on 2026-11-25, and how many come before them
WINDOW = ("--since", "2026-11-25T11:30Z", "--until", "2026-11-25T16:30Z")
IN_WINDOW = {"refusals": (1, [2, 3]), "policy": (5, [6]), "users": (8, [9, 10])}


@pytest.fixture
def chained(wf, clock) -> None:
    """Refusals at 10:00, 12:00, 14:00 and 17:00; PL restricted at 11:00 and its restriction
    ended at 15:00; dora disabled at 13:00 and eve added at 16:00."""
    ref = draft(wf)

    def refuse(actor: str, event: str) -> None:
        clock.advance(hours=1)
        with pytest.raises(Refused):
            wf.fire(ref, event, actor=actor, reason='"quoted", and a comma')

    refuse("ann", "submit")
    clock.advance(hours=1)
    wf.restrict("PL", "embargo", "2026-12-01", reason="test, a comma", actor="admin")
    refuse("dan", "approve_for_us")
    clock.advance(hours=1)
    wf.disable_user("dora", actor="admin")
    refuse("rita", "withdraw")
    clock.advance(hours=1)
    wf.end_restriction("PL", "2026-12-01", reason="called off", actor="admin")
    clock.advance(hours=1)
    wf.add_user("eve", ["reviewer", "drafter"], actor="admin", reason='"new" reviewer')
    refuse("eve", "approve_for_us")
    clock.advance(hours=1)


pytestmark = pytest.mark.usefixtures("chained")


@pytest.fixture
def keys(run_ready: Cli, tmp_path: Path) -> tuple[Path, Path]:
    key = tmp_path / "audit.key"
    assert run_ready("audit", "keygen", "-o", str(key), actor="aud").exit_code == 0
    return key, tmp_path / "audit.key.pub"


def _manifest(path: Path) -> Path:
    return path.with_name(path.name + ".manifest.json")


def _export(run: Cli, path: Path, log: str, fmt: str, *extra: str) -> dict[str, Any]:
    result = run("audit", "export", "--log", log, "--format", fmt, "-o", str(path), *extra,
                 "--json", actor="aud")
    assert result.exit_code == 0, result.stderr
    manifest = json.loads(result.stdout)
    assert manifest == json.loads(_manifest(path).read_text())
    return manifest


def _offline(run: Cli, path: Path, *extra: str) -> Any:
    """The check with the database out of reach: --db names a file that does not exist."""
    return Cli(str(path.with_name("no-such.db")), run.clock)(
        "audit", "check-export", str(path), "--offline", *extra, actor="aud")


def _online(run: Cli, path: Path, *extra: str) -> Any:
    return run("audit", "check-export", str(path), *extra, actor="aud")


def _link(previous: str, row: dict[str, Any]) -> str:
    """The chain's link, restated here: SHA-256 of the link before and the row's canonical
    JSON."""
    text = json.dumps(row, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(bytes.fromhex(previous) + text.encode()).hexdigest()


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines(keepends=True)


def _rewrite(path: Path, lines: list[str], **manifest_changes: Any) -> None:
    """Write ``lines`` as the export and redo the manifest's digest (as whoever edits the file
    would), with any other manifest fields changed too."""
    path.write_text("".join(lines), encoding="utf-8")
    manifest = json.loads(_manifest(path).read_text())
    for name, value in manifest_changes.items():
        if name == "checkpoint":
            manifest["checkpoint"].update(value)
        else:
            manifest[name] = value
    manifest["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    _manifest(path).write_text(json.dumps(manifest))


def _fails(result: Any, *wanted: str) -> str:
    line = assert_one_line_error(result, 1)
    for text in wanted:
        assert text in line, line
    return line


# -- exporting and checking ------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
@pytest.mark.parametrize("log", LOGS)
def test_a_whole_log_exports_and_checks_online_and_offline(run_ready, tmp_path, log, fmt):
    path = tmp_path / f"{log}.{fmt}"
    manifest = _export(run_ready, path, log, fmt)
    count_key, chain_key = CP_KEYS[log]
    cp = manifest["checkpoint"]
    assert cp[count_key] == COUNTS[log]
    assert {k: manifest[k] for k in ("file", "log", "format", "rows", "first_seq", "last_seq",
                                     "since", "until", "prior", "previous_link", "last_link")} == {
        "file": path.name, "log": log, "format": fmt, "rows": COUNTS[log], "first_seq": 1,
        "last_seq": COUNTS[log], "since": None, "until": None, "prior": 0,
        "previous_link": GENESIS, "last_link": cp[chain_key]}
    assert manifest["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert "signature" not in manifest and "nodes" not in manifest
    online = _online(run_ready, path)
    assert online.exit_code == 0, online.stderr
    assert online.stdout == f"ok: {COUNTS[log]} rows match the manifest and the {log} log\n"
    offline = _offline(run_ready, path)
    assert offline.exit_code == 0, offline.stderr
    assert offline.stdout == f"ok: {COUNTS[log]} rows match the manifest and its links\n"
    assert "nothing vouches for that checkpoint" in offline.stderr


@pytest.mark.parametrize("log", LOGS)
def test_each_jsonl_line_is_the_hashed_row_and_the_chain_recomputes_from_it(
        wf, run_ready, tmp_path, log):
    path = tmp_path / f"{log}.jsonl"
    manifest = _export(run_ready, path, log, "jsonl")
    link = GENESIS
    for number, line in enumerate(_lines(path), 1):
        full = json.loads(line)
        assert line == json.dumps(full, sort_keys=True, separators=(",", ":"),
                                  ensure_ascii=False) + "\n"
        assert full["seq"] == number
        row = {k: v for k, v in full.items() if k not in ("seq", "chain")}
        link = _link(link, row)
        assert full["chain"] == link
    assert link == manifest["last_link"]
    if log == "refusals":  # the row as `audit refusals --json` shows it, with its link
        lines = [json.loads(line) for line in _lines(path)]
        assert [{k: v for k, v in r.items() if k != "chain"} for r in lines] == wf.refusals()
        assert lines[0]["message"].startswith("submit refused")


@pytest.mark.parametrize("log", LOGS)
def test_csv_and_jsonl_exports_hold_the_same_rows(run_ready, tmp_path, log):
    _export(run_ready, tmp_path / "a.jsonl", log, "jsonl")
    _export(run_ready, tmp_path / "a.csv", log, "csv")
    with (tmp_path / "a.csv").open(newline="", encoding="utf-8") as source:
        cells = list(csv.DictReader(source))
    rows = [json.loads(line) for line in _lines(tmp_path / "a.jsonl")]
    assert [c["chain"] for c in cells] == [r["chain"] for r in rows]
    assert [int(c["seq"]) for c in cells] == [r["seq"] for r in rows]
    assert [c["at"] for c in cells] == [r["at"] for r in rows]
    if log == "users":
        assert [json.loads(c["roles"]) for c in cells] == [r["roles"] for r in rows]
        # a text starting as a JSON string does is written as its JSON string
        assert rows[-1]["reason"] == '"new" reviewer'
        assert cells[-1]["reason"] == '"\\"new\\" reviewer"'  # as its JSON string
        assert cells[-2]["reason"] == "" and "reason" not in rows[-2]
    if log == "refusals":
        assert cells[0]["state"] == "drafted" and cells[0]["rule"] == "role"


def test_the_history_export_is_unchanged_by_the_log_option(run_ready, tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    plain = run_ready("audit", "export", "--format", "jsonl", "-o", str(tmp_path / "a/h.jsonl"),
                      "--json", actor="aud")
    named = run_ready("audit", "export", "--log", "history", "--format", "jsonl", "-o",
                      str(tmp_path / "b/h.jsonl"), "--json", actor="aud")
    assert plain.exit_code == named.exit_code == 0
    assert plain.stdout == named.stdout
    assert (tmp_path / "a/h.jsonl").read_bytes() == (tmp_path / "b/h.jsonl").read_bytes()
    manifest = json.loads(plain.stdout)
    assert sorted(manifest) == ["checkpoint", "file", "first_seq", "format", "last_seq", "nodes",
                                "rows", "sha256", "since", "until"]
    checked = _online(run_ready, tmp_path / "a/h.jsonl")
    assert checked.stdout == "ok: 1 row matches the manifest and the log\n"


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
@pytest.mark.parametrize("log", LOGS)
def test_a_window_exports_the_rows_stamped_in_it_with_the_link_before(
        run_ready, tmp_path, log, fmt):
    whole = _export(run_ready, tmp_path / f"all.{fmt}", log, fmt)
    path = tmp_path / f"window.{fmt}"
    manifest = _export(run_ready, path, log, fmt, *WINDOW)
    prior, seqs = IN_WINDOW[log]
    full = [json.loads(line) for line in _lines(tmp_path / "all.jsonl")] if fmt == "jsonl" \
        else None
    assert (manifest["prior"], manifest["rows"], manifest["first_seq"],
            manifest["last_seq"]) == (prior, len(seqs), seqs[0], seqs[-1])
    assert manifest["since"] == "2026-11-25T11:30:00+00:00"
    assert manifest["until"] == "2026-11-25T16:30:59.999999+00:00"  # the minute to its end
    assert manifest["previous_link"] != GENESIS
    if full is not None:
        assert manifest["previous_link"] == full[prior - 1]["chain"]
        assert manifest["last_link"] == full[seqs[-1] - 1]["chain"]
        assert [json.loads(line) for line in _lines(path)] == full[prior:prior + len(seqs)]
    # the window ends with the log where its last row is the log's
    assert (manifest["last_link"] == whole["last_link"]) == (seqs[-1] == COUNTS[log])
    assert _online(run_ready, path).exit_code == 0
    assert _offline(run_ready, path).exit_code == 0


def test_a_window_with_no_row_exports_none_and_checks(run_ready, tmp_path):
    path = tmp_path / "none.jsonl"
    manifest = _export(run_ready, path, "refusals", "jsonl", "--since", "2027-01-01")
    assert (manifest["rows"], manifest["first_seq"], manifest["prior"]) == (0, None, 4)
    assert manifest["previous_link"] == manifest["last_link"] == \
        manifest["checkpoint"]["refusal_chain"]
    assert path.read_bytes() == b""
    assert _online(run_ready, path).stdout == "ok: 0 rows match the manifest and the refusals log\n"
    assert _offline(run_ready, path).exit_code == 0


def test_what_makes_no_sense_is_refused_on_one_line(run_ready, tmp_path):
    path = str(tmp_path / "x.jsonl")
    line = assert_one_line_error(run_ready(
        "audit", "export", "--log", "refusals", "--format", "jsonl", "-o", path,
        "--since", "2026-11-26", "--until", "2026-11-25", actor="aud"), 2)
    assert "after --until" in line
    result = run_ready("audit", "export", "--log", "grants", "--format", "jsonl", "-o", path,
                       actor="aud")
    assert result.exit_code == 2 and "'grants' is not one of" in result.stderr
    assert not Path(path).exists()


def test_an_old_export_still_checks_once_the_log_has_grown(wf, run_ready, tmp_path, clock):
    path = tmp_path / "r.jsonl"
    _export(run_ready, path, "refusals", "jsonl")
    with pytest.raises(Refused):
        wf.fire("TR-2026-0001", "approve", actor="ann")
    clock.advance(hours=1)
    assert _online(run_ready, path).exit_code == 0
    assert _offline(run_ready, path).exit_code == 0


# -- signing ---------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
@pytest.mark.parametrize("log", LOGS)
def test_a_signed_export_checks_with_its_key(run_ready, tmp_path, keys, log, fmt):
    key, pub = keys
    path = tmp_path / f"{log}.{fmt}"
    manifest = _export(run_ready, path, log, fmt, *WINDOW, "--sign", str(key))
    assert "signature" in manifest and "signature" in manifest["checkpoint"]
    online = _online(run_ready, path, "--pubkey", str(pub), "--json")
    assert online.exit_code == 0, online.stderr
    chain_key = CP_KEYS[log][1]
    assert json.loads(online.stdout) == {
        "file": str(path), "log": log, "rows": len(IN_WINDOW[log][1]),
        "checkpoint_count": COUNTS[log], "checkpoint_link": manifest["checkpoint"][chain_key],
        "checked_against": "database", "signed": True, "signature_checked": True}
    offline = _offline(run_ready, path, "--pubkey", str(pub))
    assert offline.exit_code == 0, offline.stderr
    assert offline.stdout.endswith("its links (signature checked)\n")
    assert offline.stderr == ""
    unchecked = _offline(run_ready, path)
    assert "signature was not checked" in unchecked.stderr


def test_a_signature_checks_only_with_its_own_key_and_its_own_manifest(
        run_ready, tmp_path, keys):
    key, pub = keys
    other = tmp_path / "other.key"
    assert run_ready("audit", "keygen", "-o", str(other), actor="aud").exit_code == 0
    path = tmp_path / "p.jsonl"
    _export(run_ready, path, "policy", "jsonl", "--sign", str(key))
    _fails(_offline(run_ready, path, "--pubkey", f"{other}.pub"), "does not verify")
    _fails(_online(run_ready, path, "--pubkey", f"{other}.pub"), "does not verify")
    unsigned = tmp_path / "u.jsonl"
    _export(run_ready, unsigned, "policy", "jsonl")
    _fails(_offline(run_ready, unsigned, "--pubkey", str(pub)), "not signed")
    # the last line dropped and the manifest made to match: only the signature shows it offline
    _rewrite(path, _lines(path)[:-1], rows=5, last_seq=5,
             last_link=json.loads(_lines(path)[-2])["chain"])
    assert _offline(run_ready, path).exit_code == 0  # nothing vouches for an unsigned range
    _fails(_offline(run_ready, path, "--pubkey", str(pub)), "manifest's signature")
    _fails(_online(run_ready, path), "row 6 of the policy log is missing")


# -- tampering -------------------------------------------------------------------------------


def _forged(after: dict[str, Any], seq: int, **changes: Any) -> str:
    """A line forged as someone who knows how links are made would: its link made right."""
    row = {k: v for k, v in after.items() if k not in ("seq", "chain")} | changes
    full = {**row, "seq": seq, "chain": _link(after["chain"], row)}
    return json.dumps(full, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n"


def _altered(line: str) -> str:
    full = json.loads(line)
    full["at"] = full["at"].replace("T1", "T0")
    return json.dumps(full, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n"


TAMPERINGS = {  # name: (lines -> lines, manifest changes, what the message must say)
    "changed": (lambda ls: [ls[0], _altered(ls[1]), *ls[2:]], {},
                "line 2 (row 2) does not follow from line 1"),
    "dropped": (lambda ls: [ls[0], *ls[2:]], {}, "line 2 (row 3) does not follow from line 1"),
    "dropped last": (lambda ls: ls[:-1], {}, "has 3 rows; its manifest says 4"),
    "repeated": (lambda ls: [ls[0], ls[1], ls[1], *ls[2:]], {},
                 "line 3 (row 2) is repeated or out of order"),
    "reordered": (lambda ls: [ls[0], ls[2], ls[1], ls[3]], {},
                  "line 2 (row 3) does not follow from line 1"),
    "inserted": (lambda ls: [ls[0], _forged(json.loads(ls[0]), 2, message="forged"),
                             *ls[1:]], {}, "line 3 (row 2) is repeated or out of order"),
    "appended": (lambda ls: [*ls, _forged(json.loads(ls[-1]), 5, message="forged")],
                 {"rows": 5, "last_seq": 5, "last_link": "LAST"},
                 "more than the checkpoint's 4"),
    "rows": (lambda ls: ls, {"rows": 3}, "has 4 rows; its manifest says 3"),
    "first_seq": (lambda ls: ls, {"first_seq": 2}, "its manifest says rows 2 to 4"),
    "last_link": (lambda ls: ls, {"last_link": "ab" * 32}, "not its manifest's last_link"),
    "prior": (lambda ls: ls, {"prior": 1}, "previous link is GENESIS only"),
    "checkpoint": (lambda ls: ls, {"checkpoint": {"refusal_chain": "cd" * 32}},
                   "CHECKPOINT"),
    "log": (lambda ls: ls, {"log": "users"}, "line 1 (row 1) is not a row of the user log"),
}


@pytest.mark.parametrize("tampering", list(TAMPERINGS))
def test_any_tampering_fails_online_and_offline_naming_why(run_ready, tmp_path, tampering):
    path = tmp_path / "r.jsonl"
    manifest = _export(run_ready, path, "refusals", "jsonl")
    edit, changes, wanted = TAMPERINGS[tampering]
    lines = edit(_lines(path))
    if changes.get("last_link") == "LAST":
        changes = {**changes, "last_link": json.loads(lines[-1])["chain"]}
    _rewrite(path, lines, **changes)
    offline = _offline(run_ready, path)
    online = _online(run_ready, path)
    if wanted == "CHECKPOINT":
        _fails(offline, "runs to the checkpoint's 4 rows but its last link is not")
        _fails(online, "checkpoint does not match this database's refusal log")
        return
    _fails(offline, wanted)
    _fails(online)
    assert manifest["rows"] == 4


@pytest.mark.parametrize("log", LOGS)
def test_a_changed_csv_cell_fails_naming_its_line(run_ready, tmp_path, log):
    path = tmp_path / f"{log}.csv"
    _export(run_ready, path, log, "csv")
    lines = _lines(path)
    lines[2] = lines[2].replace("2026-11-25T", "2026-11-24T", 1)
    _rewrite(path, lines)
    _fails(_offline(run_ready, path), "line 3 (row 2) does not follow from line 2")
    _fails(_online(run_ready, path), "line 3")


def test_a_csv_header_or_cell_not_as_written_is_named(run_ready, tmp_path):
    path = tmp_path / "u.csv"
    _export(run_ready, path, "users", "csv")
    lines = _lines(path)
    _rewrite(path, [lines[0].replace("roles", "role"), *lines[1:]])
    _fails(_offline(run_ready, path), "line 1 is not the header of a user log export")
    _rewrite(path, [lines[0], lines[1].replace(",true,", ",yes,"), *lines[2:]])
    _fails(_offline(run_ready, path), "line 2 cannot be read: a flag is neither true nor false")


def test_a_window_moved_in_its_manifest_fails(run_ready, tmp_path):
    path = tmp_path / "w.jsonl"
    _export(run_ready, path, "users", "jsonl", *WINDOW)
    _rewrite(path, _lines(path), since="2026-11-25T14:00:00+00:00")
    _fails(_offline(run_ready, path), "line 1 (row 9) is stamped before the manifest's --since")
    _fails(_online(run_ready, path), "its manifest says 8 rows come before it")
    _export(run_ready, path, "users", "jsonl", *WINDOW, "--force")
    _rewrite(path, _lines(path), until="2026-11-25T15:00:00+00:00")
    _fails(_offline(run_ready, path), "line 2 (row 10) is stamped after the manifest's --until")
    _export(run_ready, path, "users", "jsonl", *WINDOW, "--force")
    _rewrite(path, _lines(path), previous_link="ab" * 32)
    _fails(_offline(run_ready, path),
           "line 1 (row 9) does not follow from the manifest's previous link")
    _fails(_online(run_ready, path), "its manifest says 8 rows come before it, ending in abab")


def test_a_row_altered_in_the_database_fails_the_online_check(wf, run_ready, tmp_path):
    path = tmp_path / "r.jsonl"
    _export(run_ready, path, "refusals", "jsonl")
    as_attacker(wf, "wf_refusal", "UPDATE wf_refusal SET message = 'nothing' WHERE seq = 3")
    _fails(_online(run_ready, path),
           "line 3 (row 3) differs from the refusal log as the database holds it now")
    assert _offline(run_ready, path).exit_code == 0  # the file itself is as exported


# -- the API ---------------------------------------------------------------------------------


@pytest.mark.parametrize("log", LOGS)
def test_the_api_exports_and_checks_each_log(wf, tmp_path, log):
    path = tmp_path / f"{log}.jsonl"
    manifest = wf.export(path, "jsonl", log=log, since="2026-11-25T11:30Z",
                         until="2026-11-25T16:30Z")
    assert manifest["rows"] == len(IN_WINDOW[log][1])
    assert wf.export_size(log=log, since="2026-11-25T11:30Z",
                          until="2026-11-25T16:30Z") == manifest["rows"]
    assert wf.export_size(log=log) == COUNTS[log]
    assert wf.check_export(path)["checked_against"] == "database"
    assert wf.check_export_offline(path)["checked_against"] == "manifest"
    lines = _lines(path)
    _rewrite(path, lines[:1] + [_altered(line) for line in lines[1:]])
    if len(lines) > 1:
        with pytest.raises(AuditFailure, match="line 2"):
            wf.check_export_offline(path)
        with pytest.raises(AuditFailure, match="line 2"):
            wf.check_export(path)
    with pytest.raises(InvalidInput, match="unknown log"):
        wf.export(tmp_path / "x.jsonl", "jsonl", log="grants")


def test_a_window_over_rows_stamped_out_of_order_holds_those_stamped_in_it(wf, clock,
                                                                          run_ready, tmp_path):
    """Writers' clocks may disagree: a refusal stamped 11:00 logged after the one of 17:00. A
    window runs from the first row stamped in it to the last, so it holds the rows between,
    but never only rows stamped outside it."""
    ref = draft(wf)
    clock.set(datetime(2026, 11, 25, 11, 0, tzinfo=UTC))
    with pytest.raises(Refused):
        wf.fire(ref, "approve", actor="ann")  # refusal 5, stamped before 2, 3 and 4
    assert [r["seq"] for r in wf.refusals(since="2026-11-25T10:30", until="2026-11-25T11:30")
            ] == [5]
    one = _export(run_ready, tmp_path / "one.jsonl", "refusals", "jsonl",
                  "--since", "2026-11-25T10:30", "--until", "2026-11-25T11:30")
    assert (one["first_seq"], one["last_seq"], one["rows"]) == (5, 5, 1)
    none = _export(run_ready, tmp_path / "none.jsonl", "refusals", "jsonl",
                   "--since", "2026-11-25T12:30", "--until", "2026-11-25T13:30")
    assert (none["first_seq"], none["rows"]) == (None, 0)
    span = _export(run_ready, tmp_path / "span.jsonl", "refusals", "jsonl",
                   "--since", "2026-11-25T09:30", "--until", "2026-11-25T11:30")
    assert (span["first_seq"], span["last_seq"], span["rows"]) == (1, 5, 5)
    for path in ("one.jsonl", "none.jsonl", "span.jsonl"):
        assert _online(run_ready, tmp_path / path).exit_code == 0
        assert _offline(run_ready, tmp_path / path).exit_code == 0


def test_a_check_names_the_file_and_its_values_escaped(run_ready, tmp_path):
    """A file's name and a forged line's values reach the terminal escaped: neither a control
    character nor a bidi mark acts on it."""
    path = tmp_path / "r\u202e\x1b.jsonl"
    _export(run_ready, path, "refusals", "jsonl")
    lines = _lines(path)
    path.write_text("".join(lines[:-1]) + lines[-1].replace('"actor":"', '"actor":"\u202e\x85'),
                    encoding="utf-8")
    line = assert_one_line_error(_online(run_ready, path), 1)
    assert "\u202e" not in line and "\x1b" not in line and "\x85" not in line
    assert "\\u202e" in line
    from workflow import audit

    assert audit.shown("a\u202eb\x85c\x1b") == '"a\\u202eb\\u0085c\\u001b"'
