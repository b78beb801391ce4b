"""Exports checked with no database: the rows and the manifest's subtree hashes must give back
the checkpoint's root; a signed manifest vouches for the selection and the checkpoint."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Cli, assert_one_line_error, rewrite_history
from tests.test_audit_features import _export, _manifest, at, trail  # noqa: F401 (a fixture)
from workflow import Workflow
from workflow.audit import AuditFailure

pytestmark = pytest.mark.usefixtures("trail")  # rows at 09:00 .. 16:00 on 2026-11-25, and one
# on the 26th


@pytest.fixture
def keys(run_ready: Cli, tmp_path: Path) -> tuple[Path, Path]:
    key = tmp_path / "audit.key"
    assert run_ready("audit", "keygen", "-o", str(key), actor="aud").exit_code == 0
    return key, tmp_path / "audit.key.pub"


def _offline(run: Cli, path: Path, *extra: str) -> Any:
    """The check, with the database out of reach: --db names a file that does not exist."""
    return Cli(str(path.with_name("no-such.db")), run.clock)(
        "audit", "check-export", str(path), "--offline", *extra, actor="aud")


def _rewrite(path: Path, lines: list[str], **manifest_changes: Any) -> None:
    """Write ``lines`` as the export and redo the manifest's digest (as whoever edits the file
    would), with any other manifest fields changed too."""
    path.write_text("".join(lines), encoding="utf-8")
    manifest = json.loads(_manifest(path).read_text())
    manifest.update(manifest_changes, sha256=hashlib.sha256(path.read_bytes()).hexdigest())
    _manifest(path).write_text(json.dumps(manifest))


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
@pytest.mark.parametrize("window", [(), ("--since", "2026-11-25T11:00Z"),
                                    ("--since", "2026-11-25T11:00Z", "--until",
                                     "2026-11-25T13:00Z"),
                                    ("--since", "2027-01-01")],
                         ids=["all", "from", "middle", "none"])
def test_an_export_checks_offline_with_its_signature(run_ready, tmp_path, keys, fmt,
                                                     window):
    key, pub = keys
    path = tmp_path / f"log.{fmt}"
    manifest = _export(run_ready, path, fmt, *window, "--sign", str(key))
    assert "signature" in manifest and "signature" in manifest["checkpoint"]
    checked = _offline(run_ready, path, "--pubkey", str(pub))
    assert checked.exit_code == 0, checked.stderr
    rows = manifest["rows"]
    assert checked.stdout.strip() == (f"ok: {rows} row{'' if rows == 1 else 's'} "
                                      f"{'matches' if rows == 1 else 'match'} the manifest and "
                                      "its checkpoint (signature checked)")
    against_log = run_ready("audit", "check-export", str(path), "--pubkey", str(pub),
                            "--json", actor="aud")
    assert json.loads(against_log.stdout) == {
        "file": str(path), "rows": rows, "checkpoint_size": 8,
        "checkpoint_root": manifest["checkpoint"]["root"], "checked_against": "database",
        "signed": True, "signature_checked": True}
    assert len(manifest["nodes"]) <= 2 * 3 + 2  # a handful, however long the log


def test_offline_without_a_key_checks_the_rows_against_the_checkpoint(
        run_ready, tmp_path):
    path = tmp_path / "log.jsonl"
    manifest = _export(run_ready, path, "jsonl", "--since", "2026-11-25T11:00Z")
    root = manifest["checkpoint"]["root"]
    result = _offline(run_ready, path, "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {
        "file": str(path), "rows": 6, "checkpoint_size": 8, "checkpoint_root": root,
        "checked_against": "manifest", "signed": False, "signature_checked": False}
    assert Workflow.check_export_offline(path)["rows"] == 6
    said = _offline(run_ready, path)
    assert said.stdout.splitlines() == ["ok: 6 rows match the manifest and its checkpoint"]
    assert said.stderr.splitlines() == [
        f"note: nothing vouches for that checkpoint (8 rows, root {root}): give --pubkey, or "
        "compare its root with a checkpoint you trust"]


def _failure(run: Cli, path: Path, *extra: str) -> str:
    result = _offline(run, path, *extra)
    assert result.exit_code == 1, result.stdout
    assert len(result.stderr.strip().splitlines()) == 1
    return result.stderr


def test_an_altered_row_is_caught_though_the_digest_was_redone(run_ready, tmp_path):
    path = tmp_path / "log.jsonl"
    _export(run_ready, path, "jsonl")
    lines = path.read_text().splitlines(keepends=True)
    lines[6] = lines[6].replace('"actor":"ann"', '"actor":"abe"')
    _rewrite(path, lines)
    assert "do not give the checkpoint's root" in _failure(run_ready, path)


def test_a_row_left_out_is_caught_offline(run_ready, tmp_path):
    path = tmp_path / "log.jsonl"
    manifest = _export(run_ready, path, "jsonl", "--since", "2026-11-25T10:00Z")
    lines = path.read_text().splitlines(keepends=True)
    _rewrite(path, lines[:2] + lines[3:], rows=manifest["rows"] - 1)
    assert "do not give the checkpoint's root" in _failure(run_ready, path)


def test_a_forged_manifest_needs_the_key(run_ready, tmp_path, keys):
    """Unsigned, someone who drops a row and folds its leaf into the manifest's hashes gets
    past the offline check; signed, the changed manifest no longer verifies."""
    key, pub = keys
    path = tmp_path / "log.jsonl"
    _export(run_ready, path, "jsonl", "--sign", str(key))
    lines = path.read_text().splitlines(keepends=True)
    leaf = hashlib.sha256(b"\x00" + lines[-1].rstrip("\n").encode()).hexdigest()
    _rewrite(path, lines[:-1], rows=7, last_seq=7, nodes=[leaf])
    assert _offline(run_ready, path).exit_code == 0  # no key: nothing vouches for the selection
    assert "the manifest's signature does not verify" in _failure(
        run_ready, path, "--pubkey", str(pub))
    against_log = run_ready("audit", "check-export", str(path), actor="aud")  # the log names it
    assert against_log.exit_code == 1 and "missing" in against_log.stderr


def test_a_key_needs_a_signed_manifest_and_the_right_key(run_ready, tmp_path, keys):
    key, pub = keys
    path = tmp_path / "log.jsonl"
    _export(run_ready, path, "jsonl")
    assert "the manifest is not signed" in _failure(run_ready, path, "--pubkey", str(pub))
    other = tmp_path / "other.key"
    assert run_ready("audit", "keygen", "-o", str(other), actor="aud").exit_code == 0
    signed = tmp_path / "signed.jsonl"
    _export(run_ready, signed, "jsonl", "--sign", str(key))
    assert "does not verify with that public key" in _failure(
        run_ready, signed, "--pubkey", f"{other}.pub")
    with pytest.raises(AuditFailure, match="not signed"):
        Workflow.check_export_offline(path, pubkey=pub)


def test_rows_out_of_order_repeated_or_outside_the_range_are_named(run_ready, tmp_path):
    path = tmp_path / "log.jsonl"
    _export(run_ready, path, "jsonl", "--since", "2026-11-25T11:00Z")
    lines = path.read_text().splitlines(keepends=True)
    _rewrite(path, [lines[1], lines[0], *lines[2:]])
    assert "line 2 is out of order or repeated" in _failure(run_ready, path)
    _rewrite(path, [lines[0], *lines])
    assert "line 2 is out of order or repeated" in _failure(run_ready, path)
    _rewrite(path, lines, since=at(hours=3).isoformat())  # the first row now falls outside it
    assert "line 1 holds it, but the manifest's range does not select it" in _failure(
        run_ready, path)


def test_an_export_without_subtree_hashes_is_bad_input_offline(run_ready, tmp_path):
    path = tmp_path / "log.jsonl"
    _export(run_ready, path, "jsonl")
    manifest = json.loads(_manifest(path).read_text())
    del manifest["nodes"]
    _manifest(path).write_text(json.dumps(manifest))
    result = _offline(run_ready, path)
    assert_one_line_error(result, 2)
    assert "carries no subtree hashes" in result.stderr
    assert run_ready("audit", "check-export", str(path), actor="aud").exit_code == 0
    manifest["nodes"] = ["not a hash"]
    _manifest(path).write_text(json.dumps(manifest))
    result = _offline(run_ready, path)
    assert_one_line_error(result, 2)
    assert "field 'nodes' must be a list of 64-hex-character hashes" in result.stderr


def test_the_signing_key_is_never_written_over(run_ready, tmp_path, keys):
    key, _ = keys
    before = key.read_bytes()
    for target in (key, Path(str(key).removesuffix(".manifest.json"))):
        result = run_ready("audit", "export", "--format", "jsonl", "-o", str(target), "--sign",
                           str(key), "--force", actor="aud")
        assert_one_line_error(result, 2)
        assert "is the signing key" in result.stderr
    manifest_of = tmp_path / "x.jsonl"
    (tmp_path / "x.jsonl.manifest.json").symlink_to(key)
    result = run_ready("audit", "export", "--format", "jsonl", "-o", str(manifest_of), "--sign",
                       str(key), "--force", actor="aud")
    assert result.exit_code == 2
    assert key.read_bytes() == before


def test_an_unreadable_stored_leaf_leaves_no_export_behind(wf, run_ready, tmp_path):
    rewrite_history(wf, "UPDATE wf_history SET leaf_hash = 'zz' WHERE seq = 1")
    path = tmp_path / "log.jsonl"
    result = run_ready("audit", "export", "--format", "jsonl", "-o", str(path), "--since",
                       "2026-11-25T11:00Z", actor="aud")
    assert_one_line_error(result, 1)
    assert "stored leaf hashes" in result.stderr
    assert not path.exists() and not _manifest(path).exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".log.jsonl")]  # no temp


def test_online_check_names_subtree_hashes_that_are_not_the_logs(run_ready, tmp_path):
    path = tmp_path / "log.jsonl"
    manifest = _export(run_ready, path, "jsonl", "--since", "2026-11-25T11:00Z")
    assert manifest["nodes"]
    _rewrite(path, path.read_text().splitlines(keepends=True), nodes=["0" * 64])
    result = run_ready("audit", "check-export", str(path), actor="aud")
    assert_one_line_error(result, 1)
    assert "subtree hashes are not the log's" in result.stderr


def test_a_slice_with_rows_left_out_inside_it_checks_both_ways(wf, run_ready, clock, tmp_path,
                                                                monkeypatch):
    """A writer whose clock lags stamps rows earlier than the rows before them: a time slice
    then leaves rows out inside it, and each gap costs subtree hashes of its own; past a
    number of them the export reads the leaves in one pass, with the same result."""
    from workflow import exports

    for hours in (12, 2, 13, 3, 14):  # alternating: 9+12, 9+2, ...
        clock.set(at(hours=hours))
        wf.create(actor="dan", **{"item": "PAC-3", "quantity": 1, "recipient": "US",
                                  "end_user": "US Army", "manufacturer": "MHI",
                                  "licensor": "LM", "licensor_country": "US"})
    path = tmp_path / "gaps.jsonl"
    window = ("--since", at(hours=12).isoformat(), "--until", at(hours=14).isoformat())
    queried = _export(run_ready, path, "jsonl", *window)
    assert _offline(run_ready, path).exit_code == 0
    monkeypatch.setattr(exports, "RANGE_QUERIES", 0)
    one_pass = _export(run_ready, path, "jsonl", *window, "--force")
    assert one_pass["nodes"] == queried["nodes"] and len(queried["nodes"]) > 2
    assert _offline(run_ready, path).exit_code == 0
    assert run_ready("audit", "check-export", str(path), actor="aud").exit_code == 0


def test_offline_input_that_overflows_or_cannot_be_encoded_is_named(run_ready, tmp_path, keys):
    key, pub = keys
    path = tmp_path / "log.jsonl"
    _export(run_ready, path, "jsonl", "--since", "2026-11-25T11:00Z", "--sign", str(key))
    lines = path.read_text().splitlines(keepends=True)
    first = json.loads(lines[0])
    first["at"] = "0001-01-01T00:00:00+05:00"
    _rewrite(path, [json.dumps(first) + "\n", *lines[1:]])
    assert "line 1" in _failure(run_ready, path)
    _rewrite(path, lines, file="\ud800")
    assert "signature does not verify" in _failure(run_ready, path, "--pubkey", str(pub))
    assert run_ready("audit", "check-export", str(path), actor="aud").exit_code == 0


@pytest.mark.parametrize(("stored", "said"), [
    ("zz", "stored leaf hashes are not all there or not readable"),
    ("ab" * 32, "the manifest's checkpoint does not match this database's log")])
def test_online_check_names_a_log_whose_stored_leaves_are_off(wf, run_ready, tmp_path, stored,
                                                              said):
    path = tmp_path / "log.jsonl"
    _export(run_ready, path, "jsonl")
    rewrite_history(wf, f"UPDATE wf_history SET leaf_hash = '{stored}' WHERE seq = 2")
    result = run_ready("audit", "check-export", str(path), actor="aud")
    assert_one_line_error(result, 1)
    assert said in result.stderr


def test_a_signed_export_checked_offline_without_the_key_says_it_was_not_checked(
        run_ready, tmp_path, keys):
    key, _ = keys
    path = tmp_path / "log.jsonl"
    manifest = _export(run_ready, path, "jsonl", "--sign", str(key))
    said = _offline(run_ready, path)
    assert said.exit_code == 0, said.stderr
    assert said.stderr.splitlines() == [
        "note: its signature was not checked, so nothing vouches for that checkpoint (8 rows, "
        f"root {manifest['checkpoint']['root']}): give --pubkey, or compare its root with a "
        "checkpoint you trust"]
