"""The files the audit commands write and read: never over the database, never over a kept file
unless forced; exports holding exactly the rows of their range; proofs naming each row once;
malformed checkpoints as bad input; checkpoints that vouch for the refusal log too.

CLI and API, SQLite and PostgreSQL (a database file exists only on SQLite).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import text

from cli.main import cli
from tests.conftest import (
    Cli,
    FakeClock,
    assert_one_line_error,
    db_snapshot,
    draft,
    rewrite_history,
)
from workflow import InvalidInput, Refused, Workflow, signing
from workflow.audit import AuditFailure
from workflow.ledger import canonical

# -- the scenario ------------------------------------------------------------------------------


@pytest.fixture
def story(wf: Workflow, clock: FakeClock) -> dict[str, str]:
    """Rows an hour apart from 09:00: 1 A create, 2 A submit, 3 B create, 4 A approve_for_us,
    5 B edit, 6 B submit; then three refusals."""
    a = draft(wf, "dan")
    clock.advance(hours=1)
    wf.fire(a, "submit", actor="dan")
    clock.advance(hours=1)
    b = draft(wf, "dora", quantity=4)
    clock.advance(hours=1)
    wf.fire(a, "approve_for_us", actor="ann")
    clock.advance(hours=1)
    wf.edit(b, actor="dora", quantity=5)
    clock.advance(hours=1)
    wf.fire(b, "submit", actor="dora")
    clock.advance(hours=1)
    for actor, event in (("rita", "approve_for_us"), ("dan", "approve"), ("ann", "submit")):
        with pytest.raises(Refused):
            wf.fire(b, event, actor=actor)
    return {"A": a, "B": b}


def sqlite_only(db_target: str) -> Path:
    if "://" in db_target:
        pytest.skip("a PostgreSQL database has no file to protect")
    return Path(db_target)


def checkpoint_file(run: Cli, path: Path, *extra: str) -> dict[str, Any]:
    result = run("audit", "checkpoint", "-o", str(path), *extra, actor="aud")
    assert result.exit_code == 0, result.stderr
    return json.loads(path.read_text())


def bytes_of(paths: list[Path]) -> list[bytes | None]:
    return [p.read_bytes() if p.exists() else None for p in paths]


# -- 1. output files ---------------------------------------------------------------------------

WRITERS: dict[str, Callable[[Path, Path], list[str]]] = {
    "checkpoint": lambda out, cp: ["audit", "checkpoint", "-o", str(out)],
    "prove": lambda out, cp: ["audit", "prove", "TR-2026-0001", "--checkpoint", str(cp),
                              "-o", str(out)],
    "export": lambda out, cp: ["audit", "export", "--format", "jsonl", "-o", str(out)],
}


@pytest.mark.parametrize("force", [[], ["--force"]], ids=["plain", "forced"])
@pytest.mark.parametrize("companion", ["", "-wal", "-shm", "-journal"])
@pytest.mark.parametrize("command", sorted(WRITERS))
def test_the_database_and_its_companion_files_are_never_written_over(
        db_target, run_ready, story, tmp_path, command, companion, force):
    database = sqlite_only(db_target)
    cp = tmp_path / "kept-cp.json"
    checkpoint_file(run_ready, cp)
    target = database.with_name(database.name + companion)
    files = [database, *(database.with_name(database.name + s) for s in ("-wal", "-shm",
                                                                          "-journal"))]
    before, rows = bytes_of(files), db_snapshot(db_target)
    result = run_ready(*WRITERS[command](target, cp), *force, actor="aud")
    line = assert_one_line_error(result, 2)
    assert f"{target} is the database's own file" in line
    assert bytes_of(files) == before
    assert db_snapshot(db_target) == rows
    assert not Path(f"{target}.manifest.json").exists()


@pytest.mark.parametrize("command", sorted(WRITERS))
def test_a_link_to_the_database_is_the_database(db_target, run_ready, story, tmp_path, command):
    database = sqlite_only(db_target)
    cp = tmp_path / "kept-cp.json"
    checkpoint_file(run_ready, cp)
    link = tmp_path / "innocent.json"
    link.symlink_to(database)
    before = database.read_bytes()
    line = assert_one_line_error(run_ready(*WRITERS[command](link, cp), "--force", actor="aud"), 2)
    assert "database's own file" in line
    assert database.read_bytes() == before


def test_keygen_never_writes_a_key_over_a_database_companion(db_target, run_ready):
    database = sqlite_only(db_target)
    target = database.with_name(database.name + "-journal")
    line = assert_one_line_error(run_ready("audit", "keygen", "-o", str(target), actor="aud"), 2)
    assert "database's own file" in line
    assert not target.exists()
    assert not target.with_name(target.name + ".pub").exists()


@pytest.mark.parametrize("kind", ["fifo", "symlink", "directory"])
@pytest.mark.parametrize("command", sorted(WRITERS))
def test_an_output_that_is_not_a_regular_file_is_refused_even_forced(
        db_target, run_ready, story, tmp_path, command, kind):
    """--force replaces a file; a pipe, a device, a link or a directory is left as it is."""
    import os
    import stat

    cp = tmp_path / "kept-cp.json"
    checkpoint_file(run_ready, cp)
    out, pointed = tmp_path / "out.json", tmp_path / "pointed.json"
    if kind == "fifo":
        os.mkfifo(out)
    elif kind == "symlink":
        pointed.write_text("keep me")
        out.symlink_to(pointed)
    else:
        out.mkdir()
    mode, rows = os.lstat(out).st_mode, db_snapshot(db_target)
    line = assert_one_line_error(run_ready(*WRITERS[command](out, cp), "--force", actor="aud"), 2)
    assert str(out) in line
    assert os.lstat(out).st_mode == mode and not stat.S_ISREG(mode)
    assert not pointed.exists() or pointed.read_text() == "keep me"
    assert db_snapshot(db_target) == rows
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


@pytest.mark.parametrize("command", sorted(WRITERS))
def test_an_empty_output_name_is_bad_input(run_ready, story, tmp_path, command):
    cp = tmp_path / "kept-cp.json"
    checkpoint_file(run_ready, cp)
    argv = ["" if a == "EMPTY" else a for a in WRITERS[command](Path("EMPTY"), cp)]
    line = assert_one_line_error(run_ready(*argv, actor="aud"), 2)
    assert line.endswith(": an empty file name")


def test_keygen_that_fails_at_the_public_key_leaves_no_private_key(tmp_path, monkeypatch):
    written = Path.write_bytes

    def full_disk(self: Path, data: bytes) -> int:
        if self.name.endswith(".pub"):
            raise OSError(28, "No space left on device", str(self))
        return written(self, data)

    monkeypatch.setattr(Path, "write_bytes", full_disk)
    target = tmp_path / "audit.key"
    with pytest.raises(InvalidInput, match="No space left on device"):
        signing.keygen(target)
    assert list(tmp_path.iterdir()) == []


def test_keygen_into_a_place_it_cannot_write_is_bad_input_leaving_no_half_pair(run_ready):
    target = Path("/proc/wf-test-key")
    if not Path("/proc").is_dir():
        pytest.skip("needs /proc")
    line = assert_one_line_error(run_ready("audit", "keygen", "-o", str(target), actor="aud"), 2)
    assert f"cannot write {target}" in line
    assert not target.exists()


@pytest.mark.parametrize("command", sorted(WRITERS))
def test_an_existing_output_file_is_kept_unless_forced(db_target, run_ready, story, tmp_path,
                                                      command):
    cp = tmp_path / "kept-cp.json"
    checkpoint_file(run_ready, cp)
    out = tmp_path / "out.json"
    out.write_text("keep me")
    rows = db_snapshot(db_target)
    line = assert_one_line_error(run_ready(*WRITERS[command](out, cp), actor="aud"), 2)
    assert f"{out} already exists" in line and "--force" in line
    assert out.read_text() == "keep me"
    assert db_snapshot(db_target) == rows
    forced = run_ready(*WRITERS[command](out, cp), "--force", actor="aud")
    assert forced.exit_code == 0, forced.stderr
    assert out.read_text() != "keep me"
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


@pytest.mark.parametrize("half", ["private", "public"])
@pytest.mark.parametrize("command", sorted(WRITERS))
def test_a_key_is_never_written_over_even_forced(db_target, run_ready, story, tmp_path, command,
                                                 half):
    cp = tmp_path / "kept-cp.json"
    checkpoint_file(run_ready, cp)
    key = tmp_path / "signing.key"
    assert run_ready("audit", "keygen", "-o", str(key), actor="aud").exit_code == 0
    target = key if half == "private" else key.with_name("signing.key.pub")
    before = bytes_of([key, key.with_name("signing.key.pub")])
    line = assert_one_line_error(run_ready(*WRITERS[command](target, cp), "--force",
                                           actor="aud"), 2)
    assert f"{target} holds a key" in line
    assert bytes_of([key, key.with_name("signing.key.pub")]) == before
    assert not Path(f"{target}.manifest.json").exists()


def test_a_kept_checkpoint_is_not_replaced_by_a_second_run(wf, run_ready, story, tmp_path,
                                                           clock):
    cp = tmp_path / "cp-1.json"
    first = checkpoint_file(run_ready, cp)
    clock.advance(hours=1)
    wf.fire(story["A"], "request_third_country", actor="dan", country="PL")
    assert_one_line_error(run_ready("audit", "checkpoint", "-o", str(cp), actor="aud"), 2)
    assert json.loads(cp.read_text()) == first
    assert wf.verify(since=cp)["consistency"]["checkpoint_size"] == 6


def test_an_export_whose_manifest_exists_is_refused(run_ready, story, tmp_path):
    out = tmp_path / "history.jsonl"
    manifest = tmp_path / "history.jsonl.manifest.json"
    manifest.write_text("{}")
    line = assert_one_line_error(
        run_ready("audit", "export", "--format", "csv", "-o", str(out), actor="aud"), 2)
    assert f"{manifest} already exists" in line
    assert not out.exists()
    assert manifest.read_text() == "{}"


@pytest.mark.parametrize(("argv", "needle"), [
    (["audit", "export", "--format", "jsonl", "-o", "-"], "its manifest goes beside it"),
    (["audit", "checkpoint", "-o", "-"], "leave out -o"),
    (["audit", "prove", "TR-2026-0001", "--checkpoint", "cp.json", "-o", "-"], "a file"),
    (["audit", "keygen", "-o", "-"], "give a file name"),
], ids=["export", "checkpoint", "prove", "keygen"])
def test_dash_is_not_an_output_file(run_ready, story, tmp_path, monkeypatch, argv, needle):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    checkpoint_file(run_ready, work / "cp.json")
    line = assert_one_line_error(run_ready(*argv, actor="aud"), 2)
    assert "-o -" in line and needle in line
    assert sorted(p.name for p in work.iterdir()) == ["cp.json"]


def test_the_api_export_refuses_the_database_and_existing_files(wf, db_target, story,
                                                                tmp_path):
    out = tmp_path / "history.csv"
    wf.export(out, "csv")
    first = out.read_bytes()
    with pytest.raises(InvalidInput, match="already exists"):
        wf.export(out, "jsonl")
    assert out.read_bytes() == first
    assert wf.export(out, "jsonl", force=True)["format"] == "jsonl"
    if wf.db.path is not None:
        with pytest.raises(InvalidInput, match="database's own file"):
            wf.export(Path(db_target), "jsonl", force=True)
        assert wf.verify()["rows"] == 6


# -- 2. check-export holds the rows against the log --------------------------------------------


def export_file(run: Cli, path: Path, fmt: str, *extra: str) -> dict[str, Any]:
    result = run("audit", "export", "--format", fmt, "-o", str(path), *extra, "--json",
                 actor="aud")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def rewrite_export(path: Path, keep: Callable[[list[str]], list[str]], fmt: str,
                   **manifest_changes: Any) -> None:
    """Edit the export's rows, and its manifest so that its count and digest agree (what a
    forger can always do)."""
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    header, body = (lines[:1], lines[1:]) if fmt == "csv" else ([], lines)
    new_body = keep(body)
    path.write_text("".join(header + new_body), encoding="utf-8")
    manifest_file = path.with_name(path.name + ".manifest.json")
    manifest = json.loads(manifest_file.read_text())
    manifest.update({"rows": len(new_body),
                     "sha256": hashlib.sha256(path.read_bytes()).hexdigest(), **manifest_changes})
    manifest_file.write_text(json.dumps(manifest))


def check_export(run: Cli, path: Path) -> Result:
    return run("audit", "check-export", str(path), actor="aud")


def assert_export_fails(wf: Workflow, run: Cli, path: Path, seq: int, needle: str) -> str:
    line = assert_one_line_error(check_export(run, path), 1)
    assert f"audit failed: row {seq}" in line, line
    assert needle in line, line
    with pytest.raises(AuditFailure) as caught:
        wf.check_export(path)
    assert caught.value.seq == seq
    return line


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_a_repeated_row_fails_check_export(wf, run_ready, story, tmp_path, fmt):
    path = tmp_path / f"history.{fmt}"
    export_file(run_ready, path, fmt)
    rewrite_export(path, lambda body: [*body[:4], body[3], *body[4:]], fmt)
    line = assert_export_fails(wf, run_ready, path, 4, "appears more than once")
    assert f"({story['A']})" in line


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
@pytest.mark.parametrize(("drop", "seq", "changes"), [
    (0, 1, {"first_seq": 2}),
    (2, 3, {}),
    (5, 6, {"last_seq": 5}),
], ids=["first", "middle", "last"])
def test_a_missing_row_fails_check_export_even_with_the_manifest_redone(
        wf, run_ready, story, tmp_path, fmt, drop, seq, changes):
    path = tmp_path / f"history.{fmt}"
    export_file(run_ready, path, fmt)
    rewrite_export(path, lambda body: [*body[:drop], *body[drop + 1:]], fmt, **changes)
    assert_export_fails(wf, run_ready, path, seq, "is missing from")


def test_a_missing_row_is_named_beside_a_wrong_count(wf, run_ready, story, tmp_path):
    path = tmp_path / "history.jsonl"
    export_file(run_ready, path, "jsonl")
    rewrite_export(path, lambda body: [*body[:2], *body[3:]], "jsonl", rows=6)
    line = assert_export_fails(wf, run_ready, path, 3, "is missing from history.jsonl")
    assert "has 5 rows; its manifest says 6" in line


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_a_row_outside_the_range_fails_check_export(wf, run_ready, story, tmp_path, fmt):
    full = tmp_path / f"full.{fmt}"
    export_file(run_ready, full, fmt)
    outside = full.read_text(encoding="utf-8").splitlines(keepends=True)[-1]  # row 6, 14:00
    path = tmp_path / f"window.{fmt}"
    manifest = export_file(run_ready, path, fmt, "--since", "2026-11-25T10:00:00Z", "--until",
                           "2026-11-25T12:00:00Z")
    assert (manifest["first_seq"], manifest["last_seq"]) == (2, 4)
    assert check_export(run_ready, path).exit_code == 0
    rewrite_export(path, lambda body: [*body, outside], fmt, last_seq=6)
    assert_export_fails(wf, run_ready, path, 6, "the manifest's range does not select it")


def test_a_manifest_stating_other_first_and_last_rows_fails(wf, run_ready, story, tmp_path):
    path = tmp_path / "history.jsonl"
    export_file(run_ready, path, "jsonl")
    rewrite_export(path, lambda body: body, "jsonl", first_seq=2)
    line = assert_one_line_error(check_export(run_ready, path), 1)
    assert "its manifest says rows 2 to 6 but history.jsonl holds rows 1 to 6" in line


@pytest.mark.parametrize(("change", "needle"), [
    ({"rows": -1}, "'rows'"),
    ({"first_seq": "one"}, "'first_seq'"),
    ({"since": "yesterday"}, "'since'"),
    ({"format": "xml"}, "'format'"),
    ({"checkpoint": {"size": -1}}, "'size'"),
], ids=["rows", "first_seq", "since", "format", "checkpoint-size"])
def test_a_malformed_manifest_is_bad_input_naming_the_field(run_ready, story, tmp_path, change,
                                                           needle):
    path = tmp_path / "history.jsonl"
    export_file(run_ready, path, "jsonl")
    manifest_file = path.with_name(path.name + ".manifest.json")
    manifest = json.loads(manifest_file.read_text())
    for key, value in change.items():
        manifest[key] = {**manifest[key], **value} if isinstance(value, dict) else value
    manifest_file.write_text(json.dumps(manifest))
    assert needle in assert_one_line_error(check_export(run_ready, path), 2)


# -- 3. check-proof names each row once --------------------------------------------------------


def check_proof(path: Path, *extra: str) -> Result:
    """`workflow audit check-proof` with no usable database at all."""
    return CliRunner().invoke(cli, ["--db", "/nonexistent/dir/x.db", "--as", "nobody",
                                    "audit", "check-proof", str(path), *extra],
                              catch_exceptions=False)


@pytest.fixture
def proof(run_ready, story, tmp_path) -> Path:
    checkpoint_file(run_ready, tmp_path / "cp.json")
    out = tmp_path / "proof.json"
    result = run_ready("audit", "prove", story["A"], "--checkpoint", str(tmp_path / "cp.json"),
                       "-o", str(out), actor="aud")
    assert result.exit_code == 0, result.stderr
    return out


@pytest.mark.parametrize("rows", [
    lambda rows: [rows[0]] * 3,
    lambda rows: [*rows, rows[1]],
], ids=["one-row-thrice", "all-rows-and-one-again"])
def test_a_proof_with_a_repeated_row_fails(wf, story, proof, rows):
    bundle = json.loads(proof.read_text())
    seq = rows(bundle["rows"])[-1]["row"]["seq"]
    bundle["rows"] = rows(bundle["rows"])
    proof.write_text(json.dumps(bundle))
    line = assert_one_line_error(check_proof(proof), 1)
    assert f"row {seq} ({story['A']}): it appears more than once in the proof" in line
    with pytest.raises(AuditFailure, match="more than once") as caught:
        wf.check_proof(bundle)
    assert caught.value.seq == seq


def test_a_proof_entry_that_is_not_an_entry_is_bad_input(story, proof):
    bundle = json.loads(proof.read_text())
    bundle["rows"][1] = {"row": bundle["rows"][1]["row"], "index": "one", "proof": []}
    proof.write_text(json.dumps(bundle))
    assert "entry 2 of the proof's rows is malformed" in assert_one_line_error(
        check_proof(proof), 2)


# -- 4. a malformed checkpoint is bad input ----------------------------------------------------

MALFORMED: list[Any] = [
    pytest.param("size", -1, id="size-negative"),
    pytest.param("size", "6", id="size-text"),
    pytest.param("size", 6.5, id="size-fraction"),
    pytest.param("size", True, id="size-boolean"),
    pytest.param("root", "ab" * 31, id="root-short"),
    pytest.param("root", "zz" * 32, id="root-not-hex"),
    pytest.param("root", "AB" * 32, id="root-uppercase"),
    pytest.param("at", "yesterday", id="at"),
    pytest.param("origin", 7, id="origin"),
    pytest.param("refusals", -3, id="refusals"),
    pytest.param("refusal_chain", "00", id="refusal-chain"),
    pytest.param("size", None, id="size-missing"),
    pytest.param("root", None, id="root-missing"),
    pytest.param("refusal_chain", None, id="refusal-chain-without-count"),
]


def malformed(cp: dict[str, Any], field: str, value: Any) -> dict[str, Any]:
    bad = dict(cp)
    if value is None:
        del bad[field]
    else:
        bad[field] = value
    return bad


def assert_names_field(result: Result, field: str) -> None:
    line = assert_one_line_error(result, 2)
    assert f"'{field}'" in line, line
    assert "audit failed" not in line


@pytest.mark.parametrize(("field", "value"), MALFORMED)
def test_a_malformed_checkpoint_is_bad_input_for_verify_and_prove(
        wf, db_target, run_ready, story, tmp_path, field, value):
    path = tmp_path / "cp.json"
    path.write_text(json.dumps(malformed(checkpoint_file(run_ready, tmp_path / "good.json"),
                                         field, value)))
    rows = db_snapshot(db_target)
    assert_names_field(run_ready("audit", "verify", "--since", str(path), actor="aud"), field)
    assert_names_field(run_ready("audit", "prove", story["A"], "--checkpoint", str(path),
                                 "-o", str(tmp_path / "p.json"), actor="aud"), field)
    assert not (tmp_path / "p.json").exists()
    assert db_snapshot(db_target) == rows
    with pytest.raises(InvalidInput, match=f"'{field}'"):
        wf.verify(since=path)


@pytest.mark.parametrize(("field", "value"), MALFORMED)
def test_a_malformed_checkpoint_in_a_proof_is_bad_input(wf, story, proof, field, value):
    bundle = json.loads(proof.read_text())
    bundle["checkpoint"] = malformed(bundle["checkpoint"], field, value)
    proof.write_text(json.dumps(bundle))
    assert_names_field(check_proof(proof), field)
    with pytest.raises(InvalidInput, match=f"'{field}'"):
        wf.check_proof(bundle)


# -- 5. an export's range must be a range ------------------------------------------------------


def test_an_export_with_since_after_until_is_bad_input_like_the_log(wf, db_target, run_ready,
                                                                   story, tmp_path):
    rows = db_snapshot(db_target)
    out = tmp_path / "none.jsonl"
    argv = ["--since", "2027-01-01", "--until", "2026-01-01"]
    log = assert_one_line_error(run_ready("audit", "log", *argv, actor="aud"), 2)
    export = assert_one_line_error(
        run_ready("audit", "export", "--format", "jsonl", "-o", str(out), *argv, actor="aud"), 2)
    assert export == log
    assert "--since 2027-01-01T00:00:00+00:00 is after --until" in export
    assert not out.exists() and not out.with_name("none.jsonl.manifest.json").exists()
    assert db_snapshot(db_target) == rows
    since, until = datetime(2027, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC)
    with pytest.raises(InvalidInput, match="is after"):
        wf.export(out, "jsonl", since=since, until=until)
    with pytest.raises(InvalidInput, match="is after"):
        wf.export_size(since=since, until=until)
    assert not out.exists()


# -- 6. checkpoints vouch for the refusal log --------------------------------------------------


def head(wf: Workflow) -> tuple[int, str]:
    with wf.db.engine.connect() as conn:
        found = conn.execute(text("SELECT refusals, refusal_chain FROM wf_log_head")).one()
    return int(found[0]), str(found[1])


def rewind_refusals(wf: Workflow, keep: int) -> None:
    """Delete every refusal after the first ``keep`` and rewind the log head to match: what an
    attacker with database rights does to make refusals disappear."""
    with wf.db.engine.begin() as conn:
        if wf.db.is_sqlite:
            conn.execute(text("DROP TRIGGER wf_refusal_no_delete"))
        else:
            conn.execute(text("DROP TRIGGER wf_refusal_append_only ON wf_refusal"))
        seqs = [r[0] for r in conn.execute(text("SELECT seq FROM wf_refusal ORDER BY seq"))]
        conn.execute(text("DELETE FROM wf_refusal WHERE seq > :last"), {"last": seqs[keep - 1]})
        conn.execute(text("UPDATE wf_log_head SET refusals = :n, refusal_chain = (SELECT chain "
                          "FROM wf_refusal WHERE seq = :last)"), {"n": keep,
                                                                  "last": seqs[keep - 1]})


def verify_since(run: Cli, path: Path, *extra: str) -> Result:
    return run("audit", "verify", "--since", str(path), *extra, actor="aud")


def test_a_checkpoint_records_the_refusal_count_and_chain_head(wf, run_ready, story, tmp_path):
    cp = checkpoint_file(run_ready, tmp_path / "cp.json")
    assert (cp["refusals"], cp["refusal_chain"]) == head(wf) == (3, cp["refusal_chain"])
    assert {k: wf.checkpoint()[k] for k in ("size", "refusals", "refusal_chain")} == \
        {"size": 6, "refusals": 3, "refusal_chain": cp["refusal_chain"]}
    result = verify_since(run_ready, tmp_path / "cp.json")
    assert result.exit_code == 0, result.stderr
    assert ("ok: consistent with the checkpoint of 6 rows, 3 refusals, 4 policy changes and "
            "8 user changes" in result.stdout)
    assert wf.verify(since=tmp_path / "cp.json")["consistency"]["checkpoint_refusals"] == 3


def test_refusals_cut_off_after_a_checkpoint_are_caught(wf, run_ready, story, tmp_path):
    path = tmp_path / "cp.json"
    checkpoint_file(run_ready, path)
    rewind_refusals(wf, 1)
    assert wf.verify()["refusals"] == 1  # the shortened chain is whole by itself
    line = assert_one_line_error(verify_since(run_ready, path), 1)
    assert "the refusal log holds 1 refusals but the checkpoint saw 3: refusals were cut off" \
        in line
    with pytest.raises(AuditFailure, match="cut off"):
        wf.verify(since=path)


def test_refusals_replaced_after_a_checkpoint_are_caught(wf, run_ready, story, tmp_path):
    path = tmp_path / "cp.json"
    checkpoint_file(run_ready, path)
    rewind_refusals(wf, 2)
    for actor in ("rita", "dan"):  # the log grows back past the checkpoint's count
        with pytest.raises(Refused):
            wf.fire(story["A"], "approve", actor=actor)
    assert wf.verify()["refusals"] == 4
    line = assert_one_line_error(verify_since(run_ready, path), 1)
    assert "not consistent with the checkpoint of 3 refusals" in line
    with pytest.raises(AuditFailure, match="refusals up to it were altered, removed"):
        wf.verify(since=path)


def test_refusals_appended_after_a_checkpoint_keep_it_consistent(wf, run_ready, story,
                                                                  tmp_path):
    path = tmp_path / "cp.json"
    checkpoint_file(run_ready, path)
    with pytest.raises(Refused):
        wf.fire(story["A"], "approve", actor="rita")
    result = verify_since(run_ready, path)
    assert result.exit_code == 0, result.stderr
    assert ", 3 refusals, " in result.stdout


@pytest.fixture
def key(run_ready, tmp_path) -> Path:
    made = run_ready("audit", "keygen", "-o", str(tmp_path / "k"), actor="aud")
    assert made.exit_code == 0, made.stderr
    return tmp_path / "k"


@pytest.mark.parametrize("forge", [
    lambda cp: cp.update(refusals=1),
    lambda cp: cp.update(refusal_chain="00" * 32),
    lambda cp: [cp.pop("refusals"), cp.pop("refusal_chain")],
], ids=["count", "chain", "both-removed"])
def test_the_refusal_fields_are_signed(wf, run_ready, story, tmp_path, key, forge):
    path = tmp_path / "cp.json"
    cp = checkpoint_file(run_ready, path, "--sign", str(key))
    ok = verify_since(run_ready, path, "--pubkey", f"{key}.pub")
    assert ok.exit_code == 0, ok.stderr
    forge(cp)
    path.write_text(json.dumps(cp))
    line = assert_one_line_error(verify_since(run_ready, path, "--pubkey", f"{key}.pub"), 1)
    assert "signature does not verify" in line


def test_an_older_checkpoint_without_refusals_still_reads_and_checks_the_history(
        wf, run_ready, story, tmp_path, key):
    older = {k: v for k, v in wf.checkpoint().items() if k in ("origin", "size", "root", "at")}
    older["signature"] = signing.sign(canonical(older), key)
    path = tmp_path / "old.json"
    path.write_text(json.dumps(older))
    rewind_refusals(wf, 1)  # an older checkpoint cannot see this: it vouches for no refusal
    result = verify_since(run_ready, path, "--pubkey", f"{key}.pub")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[-1] == ("ok: consistent with the checkpoint of 6 rows "
                                              "(signature checked)")
    assert verify_since(run_ready, path).stdout.splitlines()[-1] == \
        "ok: consistent with the checkpoint of 6 rows"
    consistency = wf.verify(since=path, pubkey=Path(f"{key}.pub"))["consistency"]
    assert consistency["checkpoint_refusals"] is None
    assert (consistency["signed"], consistency["signature_checked"]) == (True, True)
    unchecked = wf.verify(since=path)["consistency"]
    assert (unchecked["signed"], unchecked["signature_checked"]) == (True, False)
    proof = tmp_path / "proof.json"
    proved = run_ready("audit", "prove", story["A"], "--checkpoint", str(path), "-o", str(proof),
                       actor="aud")
    assert proved.exit_code == 0, proved.stderr
    checked = check_proof(proof, "--pubkey", f"{key}.pub")
    assert checked.exit_code == 0, checked.stderr
    assert checked.stdout.splitlines()[0].endswith("none left out between them (signature checked)")
    assert "(signature checked)" not in check_proof(proof).stdout


# -- exports held to the form they are written in ----------------------------------------------


def _forge_first_reason(lines: list[str]) -> list[str]:
    """A duplicate key before the logged one: a reader keeping the first sees the forgery,
    one keeping the last (as json.loads does) the logged text."""
    first = lines[0]
    return [first.replace('"reason":', '"reason":"FORGED","reason":', 1), *lines[1:]]


def test_a_jsonl_line_that_is_not_its_rows_canonical_bytes_fails_check_export(
        wf, run_ready, story, tmp_path):
    path = tmp_path / "history.jsonl"
    export_file(run_ready, path, "jsonl")
    rewrite_export(path, _forge_first_reason, "jsonl")
    line = assert_one_line_error(check_export(run_ready, path), 1)
    assert "line 1 cannot be read: it is not the row's canonical JSON" in line
    for offline in (False, True):
        args = ["audit", "check-export", str(path), *(["--offline"] if offline else [])]
        assert "line 1 cannot be read" in assert_one_line_error(run_ready(*args, actor="aud"), 1)
    export_file(run_ready, spaced := tmp_path / "spaced.jsonl", "jsonl")
    rewrite_export(spaced, lambda rows: [rows[0].replace(",", ", ", 1), *rows[1:]], "jsonl")
    assert "line 1 cannot be read" in assert_one_line_error(check_export(run_ready, spaced), 1)


@pytest.mark.parametrize(("old", "new", "needle"), [
    pytest.param("\n1,", "\n\u0661,", "its seq is not a number in digits 0-9", id="arabic-digit"),
    pytest.param("\n1,", "\n1_0,", "its seq is not a number in digits 0-9", id="underscore"),
    pytest.param('"[""drafter""]"', '"[ ""drafter"" ]"', "its roles is not canonical JSON",
                 id="spaced-json"),
])
def test_a_csv_row_not_in_the_exports_form_is_named_by_its_line(wf, run_ready, story, tmp_path,
                                                                 old, new, needle):
    path = tmp_path / "history.csv"
    export_file(run_ready, path, "csv")
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    rewrite_export(path, lambda rows: rows, "csv")
    line = assert_one_line_error(check_export(run_ready, path), 1)
    assert f"line 2 cannot be read: {needle}" in line


def test_a_csv_export_with_a_cell_past_the_csv_modules_default_limit_checks(
        wf, run_ready, story, tmp_path):
    import csv

    path = tmp_path / "history.csv"
    export_file(run_ready, path, "csv")
    before = csv.field_size_limit(64)  # as if a consulted policy were longer than the default
    try:
        assert check_export(run_ready, path).exit_code == 0
        assert csv.field_size_limit() == 64  # the process's own limit, put back
    finally:
        csv.field_size_limit(before)


def test_a_signed_export_checked_without_the_key_says_so(wf, run_ready, story, tmp_path):
    key = tmp_path / "k.key"
    assert run_ready("audit", "keygen", "-o", str(key), actor="aud").exit_code == 0
    path = tmp_path / "history.jsonl"
    export_file(run_ready, path, "jsonl", "--sign", str(key))
    result = check_export(run_ready, path)
    assert result.exit_code == 0, result.stderr
    assert "the manifest is signed but its signature was not checked" in result.stderr


def test_a_manifest_time_that_cannot_be_told_in_utc_is_refused_in_one_line(
        wf, run_ready, story, tmp_path):
    path = tmp_path / "history.jsonl"
    export_file(run_ready, path, "jsonl")
    rewrite_export(path, lambda rows: rows, "jsonl", since="0001-01-01T00:00:00+01:00")
    for offline in (False, True):
        args = ["audit", "check-export", str(path), *(["--offline"] if offline else [])]
        result = run_ready(*args, actor="aud")
        assert result.exit_code != 0
        line = assert_one_line_error(result, result.exit_code)
        assert "since" in line and "unexpected" not in line


def test_a_proof_with_text_beyond_ascii_checks_whatever_the_locale(
        wf, run_ready, clock, tmp_path):
    import os
    import subprocess
    import sys

    ref = draft(wf, item="PAC-3 \u2708 \u65e5\u672c")
    cp = tmp_path / "cp.json"
    assert run_ready("audit", "checkpoint", "-o", str(cp), actor="aud").exit_code == 0
    proof = tmp_path / "proof.json"
    assert run_ready("audit", "prove", ref, "--checkpoint", str(cp), "-o", str(proof),
                     actor="aud").exit_code == 0
    env = {**os.environ, "LC_ALL": "C", "PYTHONCOERCECLOCALE": "0", "PYTHONUTF8": "0"}
    done = subprocess.run(
        [sys.executable, "-c", "import sys; sys.argv[0] = 'workflow'; from cli.main import main; "
         "main()", "audit", "check-proof", str(proof)],
        capture_output=True, env=env, cwd=Path(__file__).resolve().parent.parent, check=False)
    assert done.returncode == 0, done.stderr.decode()


@pytest.mark.parametrize("command", ["export", "checkpoint"])
def test_an_output_name_too_long_beside_its_companions_is_refused_before_writing(
        run_ready, story, tmp_path, command):
    """The manifest (and each temporary file) is named longer than the export: a name that
    would leave the export standing without its manifest is refused before anything is
    written."""
    out = tmp_path / "out"
    out.mkdir()
    name = out / ("e" * 236)
    args = (["audit", "export", "--format", "jsonl", "-o", str(name)] if command == "export"
            else ["audit", "checkpoint", "-o", str(out / ("c" * 245))])
    line = assert_one_line_error(run_ready(*args, actor="aud"), 2)
    assert "its name is too long for the file system" in line
    assert list(out.iterdir()) == []


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_check_export_and_prove_hold_the_database_rows_to_their_own_hashes(
        wf, run_ready, story, tmp_path, fmt):
    """A row changed in the database behind the program, its hashes left as they were: the
    export made before no longer matches the log, and no proof of it is written as proven."""
    path = tmp_path / f"history.{fmt}"
    export_file(run_ready, path, fmt)
    checkpoint_file(run_ready, tmp_path / "cp.json")
    assert check_export(run_ready, path).exit_code == 0
    rewrite_history(wf, "UPDATE wf_history SET actor = 'rita' WHERE seq = 4")  # who approved A
    line = assert_export_fails(wf, run_ready, path, 4, "the database holds it otherwise than "
                               "its leaf hash says: it was changed behind the program")
    assert f"(line {4 + (fmt == 'csv')} holds the row as it was hashed)" in line  # a header
    out = tmp_path / "proof.json"
    proved = run_ready("audit", "prove", story["A"], "--checkpoint", str(tmp_path / "cp.json"),
                       "-o", str(out), actor="aud")
    line = assert_one_line_error(proved, 1)
    assert "audit failed: row 4" in line and "no proof was written" in line
    assert not out.exists()
