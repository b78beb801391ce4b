"""Checking the Merkle log: full verification, checkpoints, consistency and inclusion proofs.

A checkpoint is ``{"origin", "size", "root", "at", "refusals", "refusal_chain",
"policy_changes", "policy_chain", "user_changes", "user_chain"}`` (plus ``"signature"``,
Ed25519 over the canonical JSON of those fields). Each count and chain link vouches for its
chained log as ``size`` and ``root`` do for the history; checkpoints made before they existed
are still read and simply vouch for no refusal, policy change or user change. Proof bundles
carry rows, their inclusion proofs and the checkpoint, so that they can be checked without the
database.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from workflow import merkle, protections, signing
from workflow.checks import (
    BATCH,
    AuditFailure,
    chain_end,
    check_before,
    check_beyond,
    check_head_counts,
    check_policy,
    check_records,
    check_rows,
    check_users,
)
from workflow.clock import CLOCK_SKEW, iso, to_storage
from workflow.errors import InvalidInput, NotFound, WorkflowError
from workflow.ledger import canonical, chain_link, row_leaf
from workflow.models import (
    GENESIS,
    History,
    LogHead,
    PolicyChange,
    Refusal,
    UserChange,
    record_id,
)
from workflow.scan import Scanner
from workflow.views import history_dict

ORIGIN = "transfer-workflow"
PARALLEL_ROWS = 100_000  # below this, starting worker processes costs more than it saves
MAX_JOBS = 8
SIGNED = ("origin", "size", "root", "at", "refusals", "refusal_chain", "policy_changes",
          "policy_chain", "user_changes", "user_chain")  # what a signature covers, if present
HASH = re.compile(r"[0-9a-f]{64}")


def stream(session: Session, *conditions: Any) -> Iterator[History]:
    query = select(History).where(*conditions).order_by(History.seq)  # type: ignore[arg-type]
    yield from session.exec(query.execution_options(yield_per=BATCH))


def leaves(session: Session, size: int | None = None) -> list[bytes]:
    query = select(History.leaf_hash).order_by(History.seq)  # type: ignore[arg-type]
    if size is not None:
        query = query.where(History.seq <= size)
    return [bytes.fromhex(h) for h in session.exec(query)]


def verify(session: Session, scanner: Scanner, progress: Callable[[int], None] | None = None,
           *, target: str | None = None, jobs: int | None = 1,
           due_field: str | None = None, admission: dict[str, Any] | None = None
           ) -> dict[str, Any]:
    """Recompute every leaf and root, then check each record against its history.

    The log head, any rows past it, the refusal chain and the policy are read in one
    snapshot; rows up to the head never change, so they may be read later, by sequence (split
    over worker processes with ``jobs`` above 1 and the database's ``target``, see
    :mod:`workflow.verify_jobs`); then each record against its history, in a snapshot of its
    own. Writers may go on meanwhile:
    what they append after the head was read is left for the next run. Memory stays flat.
    """
    with scanner.snapshot() as snapshot:
        head = snapshot.head()
        if head is None:
            raise AuditFailure("the log head is missing (every initialised database has one): "
                               "the log cannot be checked against it")
        check_head_counts(head)
        before = check_before(snapshot)
        beyond = check_beyond(snapshot, head[0], head[1])
        refusals = _check_refusals(snapshot, head)
        unchained = snapshot.unchained_refusals()
        unprotected, altered = protections.judged(snapshot)
        taken_out = snapshot.unchained_among_chained() if unchained else None
        if taken_out is not None and not isinstance(refusals, AuditFailure):
            refusals = AuditFailure(f"refusal {taken_out} is outside the refusal chain, yet "
                                    "numbered after refusals in it: taken out of the chain "
                                    "behind the program's back (those recorded before the "
                                    "chain existed come first)")
        users, admins = check_users(snapshot, head[0], admission)
        policy = check_policy(snapshot, head[0], admission, admins)
    if before is not None:
        raise before
    # the user log before the rows and the records, which are judged by the users it registers
    # (and the policy it logs), and before the policy, whose actors it registers
    if isinstance(users, AuditFailure):
        raise users
    if isinstance(policy, AuditFailure):
        raise policy
    size = head[0]
    if jobs is None:
        big = (size or 0) >= PARALLEL_ROWS
        jobs = max(1, min(os.cpu_count() or 1, MAX_JOBS)) if big else 1
    records: Any = None
    behind: list[Any] = []  # the first entry stamped more than a day before one before it
    if jobs > 1 and target is not None and size:
        from workflow import verify_jobs

        frontier, records = verify_jobs.run(target, size, jobs, progress, due_field,
                                            admission, behind)
    else:
        frontier = check_rows(scanner, 1, size, progress=progress, behind=behind)
    if head[1] != [node.hex() for node in frontier.nodes]:  # an empty log's is empty
        raise AuditFailure("the log head's tree, which the next row is appended to, is not "
                           "the rows' (altered): its root does not match them, or its nodes "
                           "do not", head[0] or None)
    if beyond is not None:
        raise beyond
    if isinstance(records, WorkflowError):
        raise records
    if records is None:
        records = check_records(scanner, due_field, admission)
    if isinstance(refusals, AuditFailure):
        raise refusals
    return {"rows": frontier.size, "records": records, "root": frontier.root().hex(),
            "refusals": refusals, "unchained_refusals": unchained,
            "missing_protections": unprotected, "altered_protections": altered,
            "stamped_behind": dict(zip(("entry", "seq", "at", "after", "after_seq",
                                        "after_at"), behind, strict=True)) if behind else None,
            "policy_changes": policy,
            "user_changes": users}


def stamped_ahead(session: Session, now: datetime) -> dict[str, Any] | None:
    """The first row stamped later than ``now`` allows (more than writers' clocks may
    disagree): a writer's clock ahead, or a row dated forward, which the rules judged as of
    that later day. A warning: the clock of whoever verifies may be the one behind."""
    try:
        allowed = now + CLOCK_SKEW
    except OverflowError:  # a clock within a day of the calendar's end: nothing is later
        return None
    found = session.exec(select(History.seq, History.at).where(
        col(History.at) > to_storage(allowed)).order_by(col(History.seq)).limit(1)).first()
    return None if found is None else {"seq": found[0], "at": iso(found[1]), "now": iso(now)}


def _check_refusals(snapshot: Scanner, head: tuple[int, list[str], int, str] | None
                    ) -> int | AuditFailure:
    """The refusal log's chain is unbroken and ends where the log head says it does; the
    failure is returned, to be raised after the history's."""
    link, count = GENESIS, 0
    for seq, row, stored in snapshot.refusals():
        link = chain_link(link, row)
        count += 1
        if link != stored:
            return AuditFailure(f"refusal {seq} does not follow from the refusals before it "
                                "(altered, removed or reordered)", None, row["ref"])
    ended = None if head is None else chain_end("refusal log", "refusals", count, link,
                                                    head[2], head[3])
    return count if ended is None else ended


def _unsigned(checkpoint: dict[str, Any]) -> bytes:
    return canonical({k: checkpoint[k] for k in SIGNED if k in checkpoint})


def checkpoint(session: Session, now: datetime, key: Path | None = None) -> dict[str, Any]:
    try:
        head = session.get(LogHead, 1)
        size = head.size if head else 0
        frontier = merkle.Frontier(size, [bytes.fromhex(n) for n in head.frontier]
                                   if head else [])
    except (TypeError, ValueError):  # JSON or hex that is not, or nodes that do not count up
        raise AuditFailure("the log head's tree is not readable (altered?): run `workflow "
                           "audit verify`") from None
    out: dict[str, Any] = {"origin": ORIGIN, "size": size, "root": frontier.root().hex(),
                           "at": iso(now), "refusals": head.refusals if head else 0,
                           "refusal_chain": head.refusal_chain if head else GENESIS,
                           "policy_changes": head.policy_changes if head else 0,
                           "policy_chain": head.policy_chain if head else GENESIS,
                           "user_changes": head.user_changes if head else 0,
                           "user_chain": head.user_chain if head else GENESIS}
    if key is not None:
        out["signature"] = signing.sign(_unsigned(out), key)
    return out


def read_checkpoint(path: Path, pubkey: Path | None) -> dict[str, Any]:
    """Load a checkpoint file; with ``pubkey``, its signature must verify."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise InvalidInput(f"cannot read checkpoint {path}: {error.strerror}") from None
    except (ValueError, UnicodeDecodeError, RecursionError):  # nested past all reason too
        raise InvalidInput(f"{path} is not a checkpoint (not JSON)") from None
    cp = parse_checkpoint(data, f"checkpoint {path}")
    if pubkey is not None:
        check_signature(cp, pubkey)
    return cp


MAX_COUNT = 2**63 - 1  # what either database can count to


def is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_COUNT


def is_moment(value: Any) -> bool:
    """An ISO 8601 time that can also be told in UTC (one hour past the first day cannot)."""
    try:
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is not None:
            moment.astimezone(UTC)
    except (TypeError, ValueError, OverflowError):
        return False
    return True


CHECKPOINT_FIELDS: list[tuple[str, Callable[[Any], bool], str]] = [
    ("origin", lambda v: isinstance(v, str), "text"),
    ("size", is_count, "a whole number of rows, 0 to 2^63 - 1"),
    ("root", lambda v: isinstance(v, str) and HASH.fullmatch(v) is not None,
     "64 lowercase hex characters"),
    ("at", is_moment, "an ISO 8601 time"),
    ("refusals", is_count, "a whole number of refusals, 0 to 2^63 - 1"),
    ("refusal_chain", lambda v: isinstance(v, str) and HASH.fullmatch(v) is not None,
     "64 lowercase hex characters"),
    ("policy_changes", is_count, "a whole number of policy changes, 0 to 2^63 - 1"),
    ("policy_chain", lambda v: isinstance(v, str) and HASH.fullmatch(v) is not None,
     "64 lowercase hex characters"),
    ("user_changes", is_count, "a whole number of user changes, 0 to 2^63 - 1"),
    ("user_chain", lambda v: isinstance(v, str) and HASH.fullmatch(v) is not None,
     "64 lowercase hex characters"),
    ("signature", lambda v: isinstance(v, str), "base64 text"),
]
OPTIONAL = ("refusals", "refusal_chain", "policy_changes", "policy_chain", "user_changes",
            "user_chain", "signature")
PAIRS = (("refusals", "refusal_chain"), ("policy_changes", "policy_chain"),
         ("user_changes", "user_chain"))


def parse_checkpoint(data: Any, where: str) -> dict[str, Any]:
    """The checkpoint's fields, each checked: a malformed checkpoint is bad input naming its
    first bad field, never an audit failure. ``refusals`` and ``refusal_chain`` come together
    or not at all (older checkpoints have neither)."""
    if not isinstance(data, dict):
        raise InvalidInput(f"{where} is not a checkpoint (a JSON object expected)")
    for count, chain in PAIRS:
        if (count in data) != (chain in data):
            raise InvalidInput(f"{where}: {count!r} and {chain!r} come together; one is "
                               "missing")
    cp: dict[str, Any] = {}
    for name, valid, expected in CHECKPOINT_FIELDS:
        if name not in data:
            if name in OPTIONAL:
                continue
            raise InvalidInput(f"{where}: the checkpoint has no {name!r} field")
        if not valid(data[name]):
            raise InvalidInput(f"{where}: field {name!r} must be {expected}, not "
                               f"{shown(data[name])}")
        cp[name] = data[name]
    return cp


def shown(value: Any) -> str:
    """A value from a file or the database, for a message: its JSON, characters a terminal would
    act on (C1 controls, bidi marks) escaped as JSON escapes the rest, cut at 40 characters."""
    text = "".join(c if c.isprintable() else f"\\u{ord(c):04x}"
                   for c in json.dumps(value, ensure_ascii=False))
    return text if len(text) <= 40 else text[:40] + "…"


def check_signature(cp: dict[str, Any], pubkey: Path) -> None:
    if "signature" not in cp:
        raise AuditFailure("the checkpoint is not signed")
    if not signing.verify(_unsigned(cp), cp["signature"], pubkey):
        raise AuditFailure("the checkpoint's signature does not verify with that public key")


def consistent_with(session: Session, cp: dict[str, Any]) -> dict[str, Any]:
    """Nothing up to the checkpoint was rewritten or cut off (RFC 9162 consistency proof)."""
    all_leaves = leaves(session)
    size, old = cp["size"], bytes.fromhex(cp["root"])
    if size > len(all_leaves):
        raise AuditFailure(f"the log has {len(all_leaves)} rows but the checkpoint saw {size}: "
                           "rows were cut off", len(all_leaves) + 1)
    current = merkle.root_of(all_leaves)
    proof = merkle.consistency_proof(size, all_leaves) if 0 < size < len(all_leaves) else []
    if size == 0:
        ok = cp["root"] == merkle.EMPTY_ROOT.hex()
    else:
        ok = merkle.verify_consistency(size, len(all_leaves), old, current, proof)
    if not ok:
        raise AuditFailure(f"the log is not consistent with the checkpoint of {size} rows: "
                           "rows up to it were rewritten")
    return {"checkpoint_size": size, "size": len(all_leaves), "proof": [p.hex() for p in proof],
            "checkpoint_refusals": _chain_consistent(session, cp, Refusal, "refusals",
                                                     "refusal_chain", "refusal log"),
            "checkpoint_policy_changes": _chain_consistent(session, cp, PolicyChange,
                                                           "policy_changes", "policy_chain",
                                                           "policy log"),
            "checkpoint_user_changes": _chain_consistent(session, cp, UserChange,
                                                         "user_changes", "user_chain",
                                                         "user log"),
            "signed": "signature" in cp}


def _chain_consistent(session: Session, cp: dict[str, Any], model: Any, count: str,
                      chain: str, log: str) -> int | None:
    """A chained log (refusals, policy changes) still holds the checkpoint's entries: at
    least as many, the last of them ending in the link the checkpoint recorded, so none of
    them was cut off, removed or altered (with the head rewound to match). None for a
    checkpoint made before it vouched for that log."""
    if count not in cp:
        return None
    wanted = cp[count]
    what = count.replace("_", " ")
    chained = col(model.chain).is_not(None)
    held = session.exec(select(func.count()).select_from(model).where(chained)).one()
    if held < wanted:
        raise AuditFailure(f"the {log} holds {held} {what} but the checkpoint saw {wanted}: "
                           f"{what} were cut off")
    link, last = GENESIS, 0
    if wanted:
        query = select(model.chain, model.seq).where(chained).order_by(col(model.seq))
        link, last = session.exec(query.offset(wanted - 1).limit(1)).one()
    if link != cp[chain]:
        raise AuditFailure(f"the {log} is not consistent with the checkpoint of {wanted} "
                           f"{what}: {what} up to it were altered, removed or reordered")
    if hasattr(model, "after_row"):  # a change made since keeps a place the checkpoint had not
        later = session.exec(select(model.seq, model.after_row).where(
            chained, col(model.seq) > last, col(model.after_row) < cp["size"]
        ).order_by(col(model.seq)).limit(1)).first()
        if later is not None:
            raise AuditFailure(
                f"{log.split()[0]} change {later[0]} came after the checkpoint of {wanted} "
                f"{what} but says it came after history row {later[1]}, which the checkpoint "
                f"of {cp['size']} rows was taken after: placed back behind the checkpoint")
    return wanted


def prove(session: Session, ref: str, cp: dict[str, Any]) -> dict[str, Any]:
    """The rows of ``ref`` up to the checkpoint, each with its inclusion proof."""
    size = cp["size"]
    try:
        tree = leaves(session, size)
    except (TypeError, ValueError):
        raise AuditFailure("a stored leaf hash is not readable (altered?): `workflow audit "
                           "verify` names its row") from None
    if len(tree) != size or merkle.root_of(tree).hex() != cp["root"]:
        raise AuditFailure("the checkpoint does not match this database's log")
    rows = [
        {"index": row.seq - 1, "row": _as_hashed(history_dict(row), tree),
         "proof": [p.hex() for p in merkle.inclusion_proof(row.seq - 1, tree)]}
        for row in stream(session, History.record_id == record_id(ref), History.ref == ref,
                          History.seq <= size)
    ]
    if not rows:
        raise NotFound(f"{ref} has no rows in the log of {size} rows the checkpoint covers "
                       "(it was drafted after it)")
    return {"checkpoint": cp, "ref": ref, "rows": rows}


def _as_hashed(row: dict[str, Any], tree: list[bytes]) -> dict[str, Any]:
    """The row, once it is known to be the one its stored leaf hash was made from: a proof of a
    row changed since (its hashes left as they were) would fail wherever it is checked."""
    if row_leaf(row) != tree[row["seq"] - 1]:
        raise AuditFailure(ALTERED_ROW + "; no proof was written", row["seq"], row["ref"])
    return row


ALTERED_ROW = ("the database holds it otherwise than its leaf hash says: it was changed behind "
               "the program (`workflow audit verify` says more)")


def check_proof(bundle: Any, pubkey: Path | None) -> dict[str, Any]:
    """Check a proof bundle with no database: O(log n) hashes per row, each row once."""
    if (not isinstance(bundle, dict) or not {"checkpoint", "ref", "rows"} <= bundle.keys()
            or not isinstance(bundle["ref"], str) or not isinstance(bundle["rows"], list)):
        raise InvalidInput("not a proof bundle (checkpoint, ref and rows expected)")
    cp = parse_checkpoint(bundle["checkpoint"], "the proof's checkpoint")
    ref, rows = bundle["ref"], bundle["rows"]
    if pubkey is not None:
        check_signature(cp, pubkey)
    size, root = cp["size"], bytes.fromhex(cp["root"])
    seen: set[int] = set()
    before: dict[str, Any] | None = None
    for number, entry in enumerate(rows, 1):
        row, index, proof = _proof_entry(entry, number)
        seq = row.get("seq")
        if row.get("ref") != ref or not is_count(seq) or seq != index + 1:
            raise AuditFailure(f"the row is not {ref}'s row {index + 1}",
                               seq if is_count(seq) else index + 1, ref)
        if seq in seen:
            raise AuditFailure("it appears more than once in the proof (a proof names each "
                               "row once)", seq, ref)
        seen.add(seq)
        try:
            leaf = row_leaf(row)
        except (ValueError, TypeError):  # text no UTF-8 can hold (a lone surrogate), say
            raise AuditFailure("the row cannot be encoded as the log hashes rows (text that is "
                               "not valid Unicode)", seq, ref) from None
        if not merkle.verify_inclusion(index, size, leaf, proof, root):
            raise AuditFailure("its inclusion proof does not verify against the checkpoint",
                               seq, ref)
        gap = _gap(before, row, ref) or _miscounted(row, number, ref)
        if gap is not None:
            raise AuditFailure(gap, seq, ref)
        before = row
    if not rows:
        raise AuditFailure(f"the proof holds none of {ref}'s rows; it begins with its drafting",
                           None, ref)
    assert before is not None
    return {"ref": ref, "rows": len(rows), "checkpoint_size": size,
            "signed": "signature" in cp, "signature_checked": pubkey is not None,
            "counted": "version" in before, "last": _last_row(before)}


def _last_row(row: dict[str, Any]) -> dict[str, Any]:
    """Where a proof ends: the request as its last row leaves it. Rows after it cannot show
    (nothing in a row points to the next), so a proof cut short still checks; this says how far
    it goes."""
    return {"seq": row["seq"], "version": row.get("version"), "event": row.get("event"),
            "state": row.get("to"), "at": row.get("at")}


def _gap(before: dict[str, Any] | None, row: dict[str, Any], ref: str) -> str | None:
    """Why a proof's row cannot follow the one before it in the request's history: a proof
    runs from the drafting in log order, each row leaving the state the one before entered (and
    each keeping its place in the request's history, see :func:`_miscounted`), so rows left out
    before or between those it holds show. (Rows after its last cannot show:
    nothing in a row points to the next; `audit verify` on the database checks those.)"""
    if before is None:
        if row.get("event") != "create" or row.get("from") is not None:
            return f"it is not {ref}'s drafting, with which its proof begins (rows left out)"
        return None
    if row["seq"] <= before["seq"]:
        return f"it is listed after row {before['seq']} (a proof keeps the log's order)"
    if row.get("from") != before.get("to"):
        return (f"it leaves {row.get('from')}, but row {before['seq']} before it left "
                f"{ref} {before.get('to')}: rows between them were left out")
    return None


def _miscounted(row: dict[str, Any], number: int, ref: str) -> str | None:
    """Why a row that keeps its request's version (its place in the request's history) is not
    the proof's row of that number: rows before it were left out, or it is not what it says."""
    if "version" not in row:
        return None  # written before the log kept it (revision 0010)
    version = row["version"]
    if not is_count(version) or version < 1:
        return "its request's version is not a count from 1 (the row was altered)"
    if version > number:
        left = version - number
        return (f"it is {ref}'s row {version}, but the proof's row {number}: {left} "
                f"{'row' if left == 1 else 'rows'} before it left out")
    if version < number:
        return f"it is {ref}'s row {version}, but the proof's row {number}"
    return None


def _proof_entry(entry: Any, number: int) -> tuple[dict[str, Any], int, list[bytes]]:
    """One entry of a proof bundle's rows: the row, its index and its proof, or bad input."""
    try:
        row, index, proof = entry["row"], entry["index"], entry["proof"]
        if not isinstance(row, dict) or not is_count(index) or not isinstance(proof, list):
            raise TypeError
        if not all(isinstance(p, str) and HASH.fullmatch(p) for p in proof):
            raise ValueError
        return row, index, [bytes.fromhex(p) for p in proof]
    except (KeyError, TypeError, ValueError):
        raise InvalidInput(f"entry {number} of the proof's rows is malformed (row, index and "
                           "proof expected)") from None
