"""A row's canonical bytes put together from its stored columns equal the definition.

`audit verify` hashes :func:`workflow.ledger.assemble` of the columns as stored; it must give
exactly :func:`workflow.ledger.canonical` of the row, and a row stored in another JSON spelling
must still be judged by its content.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import draft, rewrite_history, to_state
from workflow import audit, ledger
from workflow.clock import iso
from workflow.scan import _sqlite_iso, stored_as_written

TEXT = st.text(max_size=20)
SCALAR = st.none() | st.integers(-(10**12), 10**12) | TEXT
VALUE = st.recursive(SCALAR, lambda inner: st.lists(inner, max_size=3)
                     | st.dictionaries(TEXT, inner, max_size=3), max_leaves=8)


@given(seq=st.integers(1, 10**9), ref=TEXT, event=TEXT, source=st.none() | TEXT, dest=TEXT,
       actor=TEXT, roles=st.lists(TEXT, max_size=3), at=TEXT, reason=st.none() | TEXT,
       changes=st.dictionaries(TEXT, VALUE, max_size=4),
       consulted=st.dictionaries(TEXT, VALUE, max_size=3), version=TEXT)
def test_assembled_bytes_equal_the_canonical_encoding(seq, ref, event, source, dest, actor,
                                                      roles, at, reason, changes, consulted,
                                                      version):
    row = {"seq": seq, "ref": ref, "event": event, "from": source, "to": dest, "actor": actor,
           "roles": roles, "at": at, "reason": reason, "changes": changes,
           "consulted": consulted, "process_version": version}
    assembled = ledger.assemble(seq, ref, event, source, dest, actor, ledger.encode(roles), at,
                                reason, ledger.encode(changes), ledger.encode(consulted),
                                version)
    assert assembled == ledger.canonical(row)


@given(st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(9999, 1, 1)))
def test_sqlite_moments_read_back_as_the_iso_form_the_leaf_holds(moment):
    aware = moment.replace(tzinfo=UTC)
    assert _sqlite_iso(aware.strftime("%Y-%m-%d %H:%M:%S.%f")) == iso(aware)


def test_other_stored_shapes_of_a_moment_match_no_hash_the_iso_text_included():
    """The very ISO text a row hashes, stored in place of the stored shape, is the same moment
    sorted otherwise by SQLite's text comparisons: it must match no hash either."""
    for other in ("2026-11-25 09:30:00", "2026-11-25T09:30:00+01:00", "yesterday",
                  "2026-11-25T09:30:00+00:00"):
        assert _sqlite_iso(other) == f"{other} (not stored as the program stores a moment)"
        assert not stored_as_written(other)
    assert stored_as_written("2026-11-25 09:30:00.000000")


def _stored(wf, seq):
    sealed = {r[0]: r for r in wf.db.scan.sealed()}
    return sealed[seq]


def test_history_rows_store_their_json_columns_canonically(wf):
    ref = to_state(wf, "approved_for_us")
    rows = {r["seq"]: r for r in wf.history(ref)}
    for seq, row in rows.items():
        stored = _stored(wf, seq)
        assert stored[6] == ledger.encode(row["roles"])
        assert stored[9] == ledger.encode(row["changes"])
        assert stored[10] == ledger.encode(row["consulted"])
        assert stored[14] == ledger.encode(row["acted_as"])
        assert stored[15] == row["version"]
        assert ledger.assemble(*stored[:12], stored[14], stored[15]) == ledger.canonical(row)


def test_a_row_stored_in_another_json_spelling_still_verifies(wf):
    """Rows written with other spacing or key order (as older versions wrote them) are judged
    by what they say, not how it is spelled."""
    ref = draft(wf)
    rewrite_history(wf, "UPDATE wf_history SET roles = '[ \"drafter\" ]', "
                 "consulted = '{ }' WHERE seq = 1")
    assert wf.verify()["rows"] == 1
    assert _stored(wf, 1)[6] != ledger.encode(["drafter"])
    assert wf.history(ref)[0]["roles"] == ["drafter"]


@pytest.mark.parametrize("value", ["'[\"drafter\"'", "'[\"approver\"]'", "'7'"])
def test_a_json_column_altered_or_broken_is_named(wf, value):
    if not wf.db.is_sqlite and value.count("[") != value.count("]"):
        pytest.skip("PostgreSQL refuses to store broken JSON at all")
    ref = draft(wf)
    rewrite_history(wf, f"UPDATE wf_history SET roles = {value} WHERE seq = 1")
    with pytest.raises(audit.AuditFailure) as caught:
        wf.verify()
    assert caught.value.seq == 1
    assert caught.value.ref == ref
    assert "altered" in str(caught.value)


def test_a_moment_stored_in_another_shape_is_an_altered_row_on_sqlite(wf, clock):
    """The same instant without its fraction sorts otherwise as text, which every time filter
    compares: only the form the program writes passes."""
    if not wf.db.is_sqlite:
        pytest.skip("PostgreSQL stores moments as timestamptz")
    clock.set(datetime(2026, 11, 25, 9, 30, 0, tzinfo=UTC))
    draft(wf)
    rewrite_history(wf, "UPDATE wf_history SET at = '2026-11-25 09:30:00.000000' WHERE seq = 1")
    assert wf.verify()["rows"] == 1
    for shape in ("2026-11-25 09:30:00", "2026-11-25T09:30:00.000000", "2026-11-25 09:30:01"):
        rewrite_history(wf, f"UPDATE wf_history SET at = '{shape}' WHERE seq = 1")
        with pytest.raises(audit.AuditFailure, match="altered"):
            wf.verify()
