"""The log's own checks, row by row and request by request, in constant memory.

Kept apart from :mod:`workflow.audit` so that the worker processes of a split verification
(:mod:`workflow.verify_jobs`) start without the ORM.
"""

from __future__ import annotations

import itertools
import json
import sys
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import closing
from datetime import UTC, date, datetime
from typing import Any

from workflow import merkle
from workflow.change_rules import PolicyChanges, UserChanges, sorted_or_not
from workflow.errors import WorkflowError, stored_json
from workflow.ledger import (
    GENESIS,
    assemble,
    chain_link,
    encode,
    policy_change_row,
    row_leaf,
    user_change_row,
)
from workflow.places import Places, wrong_places
from workflow.process import Permit, admitted_as
from workflow.scan import Scanner, stored_as_written

BATCH = 2000


class AuditFailure(WorkflowError):
    """The log or a proof does not check out; the message names the first bad row."""

    def __init__(self, message: str, seq: int | None = None, ref: str | None = None) -> None:
        self.message = message
        self.seq = seq
        self.ref = ref
        where = f"row {seq}" + (f" ({ref})" if ref else "") + ": " if seq is not None else ""
        super().__init__(f"audit failed: {where}{message}")


class UnreadablePrefix(Exception):
    """A stored leaf hash before a range is not a hash: the range before it names the row."""


def check_rows(scanner: Scanner, start: int, last: int | None, *, size: int | None = None,
               progress: Callable[[int], None] | None = None,
               behind: list[Any] | None = None) -> merkle.Frontier:
    """Check rows ``start`` to ``last`` (to the end when None): numbered without a gap, each
    leaf recomputed from the row, each stored root recomputed from the tree up to it.

    The tree before ``start`` is taken from the stored leaf hashes; whoever checks those rows
    recomputes them. ``size`` is the log head's count (``last`` unless told), named when the
    rows end early. Returns the tree after the last row checked; ``behind`` is given the first
    row or change stamped more than a day before one the log holds before it, if any (see
    :class:`Places`).
    """
    frontier = merkle.Frontier()
    if start > 1:
        try:
            for stored in scanner.leaf_hashes(start):
                frontier.append(bytes.fromhex(stored))
        except (TypeError, ValueError):
            raise UnreadablePrefix(start) from None
    places = Places.read(scanner, _intact)
    if last is None or last >= start:  # rows to check (an empty log has none)
        if places is not None and start > 1:
            places.previous = scanner.moment_of(start - 1) or places.previous
        with closing(scanner.sealed(start)) as rows:  # closed even when a check raises
            check_sealed(rows, frontier, last, progress, places)
    if places is not None and (size is None or last == size):  # to the log's end
        places.finish()
    if behind is not None and places is not None and places.behind is not None:
        behind.extend(places.behind)
    if last is not None and frontier.size < last:
        counted = last if size is None else size
        raise AuditFailure(f"the log head counts {counted} rows but {frontier.size} are "
                           f"present: rows after {frontier.size} were cut off",
                           frontier.size + 1)
    return frontier


def check_sealed(rows: Iterable[tuple[Any, ...]], frontier: merkle.Frontier, last: int | None,
                 progress: Callable[[int], None] | None = None,
                 places: Places | None = None) -> None:
    """Check rows as :meth:`Scanner.sealed` reads them, appending each to ``frontier``, until
    the row numbered ``last`` (or the end); with ``places``, each row against the users and
    the policy at its place too."""
    checked = 0
    for sealed in rows:
        seq, ref, leaf_hex, root_hex = sealed[0], sealed[1], sealed[12], sealed[13]
        expected = frontier.size + 1
        if seq != expected:
            raise AuditFailure(f"expected row {expected} next, found row {seq}: "
                               f"{seq - expected} row(s) missing", seq, ref)
        leaf = _leaf(sealed, leaf_hex)
        if leaf is None:
            raise AuditFailure("its content does not match its leaf hash (the row was altered)",
                               seq, ref)
        if frontier.append_and_root(leaf).hex() != root_hex:
            raise AuditFailure("the tree root stored with it does not match the log up to it",
                               seq, ref)
        if places is not None:
            wrong = places.wrong(seq, sealed[5], sealed[6], sealed[7], sealed[10])
            if wrong is not None:
                raise AuditFailure(wrong, seq, ref)
        checked += 1
        if progress and checked % BATCH == 0:
            progress(BATCH)
        if seq == last:
            break
    if progress:
        progress(checked % BATCH)


def check_head_counts(head: tuple[Any, ...]) -> None:
    """The log head's counts are counts: anything else could be no log's."""
    for what, value in (("rows", head[0]), ("refusals", head[2])):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise AuditFailure(f"the log head's count of {what} is not a whole number "
                               f"({value!r}): it was altered")


def check_before(snapshot: Scanner) -> AuditFailure | None:
    """Rows numbered below 1: the log begins at row 1, so none can be there honestly, and
    every check by sequence would pass them over."""
    below = snapshot.first_below(1)
    if below is None:
        return None
    return AuditFailure("it is numbered below 1, where the log begins (slipped in)", *below)


def check_beyond(snapshot: Scanner, size: int, nodes: list[str]) -> AuditFailure | None:
    """Rows numbered past the log head, in the same snapshot as the head: none can be there
    honestly (a row and the head are committed together). The first is named for lying beyond
    the head, and for what else is wrong with it, if anything."""
    with closing(snapshot.sealed(size + 1)) as rows:
        first = next(rows, None)
        if first is None:
            return None
        beyond = (f"it lies beyond the {size} rows the log head counts (appended without the "
                  "log head)")
        try:
            check_sealed(itertools.chain([first], rows),
                         merkle.Frontier(size, [bytes.fromhex(n) for n in nodes]), None)
        except AuditFailure as failure:
            if failure.seq == first[0]:
                beyond += f", and {failure.message}"
        except ValueError:
            pass  # the head's own frontier is unreadable: the row is named for where it lies
    return AuditFailure(beyond, first[0], first[1])


def _leaf(sealed: tuple[Any, ...], stored: str) -> bytes | None:
    """The leaf hash of a row as read by :meth:`Scanner.sealed`, if it is the ``stored`` one
    (None: the row was altered).

    Its canonical bytes are put together from the columns as stored; when that does not give
    the stored leaf (a row written with other JSON spacing, or altered), the row is decoded
    and encoded again, which is the definition.
    """
    seq, ref, event, source, dest, actor, roles, at, reason, changes, consulted, version = (
        sealed[:12])
    acted_as, counted = sealed[14], sealed[15]
    if acted_as is not None and not (isinstance(acted_as, str) and acted_as.startswith('["')):
        return None  # kept as the program writes it, a list of role names: a JSON null (which
        # reads back as no list at all), an empty list or anything else was altered
    if counted is not None and (not isinstance(counted, int) or isinstance(counted, bool)):
        return None  # a count is a whole number; SQLite would keep anything
    try:
        leaf = merkle.leaf_hash(assemble(seq, ref, event, source, dest, actor, roles, at,
                                         reason, changes, consulted, version, acted_as,
                                         counted))
        if leaf.hex() == stored:
            return leaf
    except (TypeError, ValueError):
        pass  # not the stored shapes: the long way decides
    try:
        row = {"seq": seq, "ref": ref, "event": event, "from": source, "to": dest,
               "actor": actor, "roles": _decoded(roles), "at": at, "reason": reason,
               "changes": _decoded(changes), "consulted": _decoded(consulted),
               "process_version": version}
        if acted_as is not None:
            row["acted_as"] = _decoded(acted_as)
        if counted is not None:
            row["version"] = counted
        leaf = row_leaf(row)
    except (TypeError, ValueError):
        return None  # undecodable: altered
    return leaf if leaf.hex() == stored else None


def _decoded(value: Any) -> Any:
    return stored_json(value, _strict.decode) if isinstance(value, str) else value


def _once_each(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object whose keys are all different: a key given twice is an altered text (one
    reader takes the first, another the last; the canonical bytes hold one of them)."""
    decoded = dict(pairs)
    if len(decoded) != len(pairs):
        raise ValueError("a key given twice")
    return decoded


_strict = json.JSONDecoder(object_pairs_hook=_once_each)


def check_records(scanner: Scanner, due_field: str | None = None,
                  admission: dict[str, Any] | None = None) -> int:
    """Each record's state, version, fields, drafter, drafting time, participants and due date
    equal what its history rows say (records and history read in one snapshot); ``due_field``
    names the field the due date follows. With ``admission`` (see
    :meth:`workflow.process.Process.admission`), each row of that process version that keeps
    the roles acted under keeps exactly those its permits admit the actor under."""
    with scanner.snapshot() as snapshot:
        return _check_records(snapshot, due_field, Admission(admission))


class Admission:
    """Whether a row's roles acted under are those the process admits its actor under; the
    answer for each (event, roles held, roles acted under, own record) is worked out once."""

    def __init__(self, described: dict[str, Any] | None) -> None:
        self.version = None if described is None else described["version"]
        self.name = None if described is None else described.get("name")
        self.versions = frozenset([self.version, *(described or {}).get("earlier_versions", [])])
        self.events = {} if described is None else {
            event: [Permit(role, own) for role, own in permits]
            for event, permits in described["events"].items()}
        self._known: dict[tuple[Any, ...], str | None] = {}
        self._fields_known: dict[tuple[Any, ...], str | None] = {}
        self.initial: str | None = None if described is None else described.get("initial")
        self.edit_states: tuple[str, ...] = tuple((described or {}).get("edit_states", ()))
        self.moves: dict[str, tuple[list[str], str]] = {
            event: (sources, dest)
            for event, (sources, dest) in (described or {}).get("transitions", {}).items()}
        self.sets: dict[str, frozenset[str]] = {
            event: frozenset(names) for event, names in (described or {}).get("sets", {}).items()}

    def wrong_fields(self, event: str, version: Any, names: tuple[str, ...]) -> str | None:
        """What is wrong with the fields a row of this process version changes: only those its
        event may set (a drafting any field, an edit those people edit). The same few
        combinations come over and over: each is judged once."""
        key = (event, version, names)
        if key not in self._fields_known:
            self._fields_known[key] = self._wrong_fields(event, version, names)
        return self._fields_known[key]

    def _wrong_fields(self, event: str, version: Any, names: tuple[str, ...]) -> str | None:
        allowed = self.sets.get(event) if version == self.version else None
        if allowed is None:
            return None  # another version's process, or an event it does not have
        outside = sorted(set(names) - allowed)
        if not outside:
            return None
        return f"it changes {', '.join(outside)}, which {event} does not set"

    def wrong(self, row: tuple[Any, ...], drafter: str) -> str | None:
        """What is wrong with the row's roles acted under, if anything."""
        _seq, _to, _changes, _ref, event, actor, _at, roles, acted_as, version = row[:10]
        if acted_as is None or version != self.version or event not in self.events:
            return None  # not kept, or another version's permits
        key = (event, roles, acted_as, actor == drafter)
        if key not in self._known:
            self._known[key] = self._judged(event, roles, acted_as, actor == drafter)
        return self._known[key]

    def _judged(self, event: str, roles: Any, acted_as: Any, own: bool) -> str | None:
        try:
            held, acted = _decoded(roles), _decoded(acted_as)
        except (TypeError, ValueError):
            return "its roles are not readable (the row was altered)"
        if not isinstance(held, list) or not isinstance(acted, list):
            return "its roles are not readable (the row was altered)"
        admitted = admitted_as(self.events[event], held, own)
        if acted == admitted:
            return None
        return (f"it says its actor acted as {' and '.join(map(str, acted)) or 'nothing'}, but "
                f"{event} admits someone holding {', '.join(map(str, held)) or 'no role'} "
                f"only as {' and '.join(admitted) or 'nothing'}")


    def wrong_move(self, row: tuple[Any, ...]) -> str | None:
        """What is wrong with the change of state a row of this process version records: a
        drafting into the initial state, an edit that leaves the state as it is while edits are
        allowed, an event of the process from one of its sources to its destination."""
        dest, event, version, source = row[1], row[4], row[9], row[10]
        if version != self.version or self.initial is None:
            return None  # another version's process: its states are not this one's
        if event == "create":
            if source is None and dest == self.initial:
                return None
            return (f"it drafts the request from {source or 'nothing'} into {dest}; the process "
                    f"drafts into {self.initial}")
        if event == "edit":
            if source == dest and source in self.edit_states:
                return None
            allowed = " or ".join(self.edit_states) or "no state at all"
            return (f"it edits the request from {source} to {dest}; an edit leaves the state as "
                    f"it is, and only while {allowed}")
        move = self.moves.get(event)
        if move is None:
            return f"its event {event} is not one of the process's"
        sources, to = move
        if source not in sources:
            return f"{event} does not apply from {source} (only from {' or '.join(sources)})"
        if dest != to:
            return f"{event} leads to {to}, but the row says {dest}"
        return None


class Actors:
    """Whether a row's actor is a registered user, holding roles the user log gives them (at
    some time: :class:`Places` holds each row to the roles at its place, where the log keeps
    places; the users are checked against their own log)."""

    def __init__(self, users: tuple[Any, list[tuple[Any, ...]], list[tuple[Any, ...]]]) -> None:
        _head, changes, stored = users  # as Scanner.users gives them
        self.roles: dict[Any, list[list[str] | None]] = {}
        for name, roles in [(row[0], row[1]) for row in stored] + [(c[2], c[3]) for c in changes]:
            held = sorted(map(str, roles)) if isinstance(roles, list) else None
            known = self.roles.setdefault(name, [])
            if held not in known:
                known.append(held)
        self._known: dict[tuple[Any, Any], str | None] = {}

    def wrong(self, row: tuple[Any, ...]) -> str | None:
        key = (row[5], row[7])
        if key not in self._known:
            self._known[key] = self._judged(*key)
        return self._known[key]

    def _judged(self, actor: Any, roles: Any) -> str | None:
        if actor not in self.roles:
            return f"its actor {actor} is no registered user"
        try:
            listed = _decoded(roles)
        except (TypeError, ValueError):
            return "its roles are not readable (the row was altered)"
        if not isinstance(listed, list):
            return "its roles are not readable (the row was altered)"
        held = self.roles[actor]
        if sorted(map(str, listed)) not in held:
            shown = ", ".join(map(str, listed)) or "no role"
            holds = "; or ".join(", ".join(h) if h else "roles that cannot be read"
                                 for h in held)
            verb = "holds" if len(held) == 1 else "held only"
            return f"it says {actor} held {shown}, but {actor} {verb} {holds}"
        return None


_raw_decode = json.JSONDecoder().raw_decode


def _decoded_json(value: Any) -> Any:
    """Stored JSON text decoded. A key given twice is not refused here: a history row's text
    is held to its leaf (:func:`_leaf` decodes strictly what is not canonical), a record's by
    :func:`_once_each_key`."""
    if value == "{}":
        return {}  # most rows change no field: no need to decode
    if not isinstance(value, str):
        return value
    try:  # stored canonically, without whitespace around it: json.loads less its two scans
        decoded, end = _raw_decode(value)
        if end == len(value):
            return decoded
    except (ValueError, RecursionError):
        pass
    return stored_json(value)  # anything else: decoded as any JSON text is, or refused


def _once_each_key(value: Any, canonical: str, what: str, seq: int, ref: str) -> None:
    """Stored text that is not the ``canonical`` text of what it decodes to may give a key
    twice (one reader takes the first, another the last): decoded again strictly."""
    if isinstance(value, str) and value != canonical:
        try:
            _strict.decode(value)
        except ValueError:
            raise AuditFailure(f"{ref}'s stored {what} are not readable (a key given twice)",
                               seq, ref) from None


WRITES_WITHOUT_EVENT = ("create", "edit")  # history events that are not the process's own


def _replayed(ref: str, rows: list[tuple[Any, ...]], admission: Admission
              ) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """The fields and the participants (actors of each event, first firing first) the history
    leaves a record with; each change from the value the rows before left, to a field its event
    may set."""
    data: dict[str, Any] = {}
    participants: dict[str, list[str]] = {}
    for seq, _to, changes, row_ref, event, actor, _at, _roles, _acted, version, *_ in rows:
        if row_ref != ref:
            raise AuditFailure(f"it names {row_ref} but is filed under {ref}", seq, ref)
        try:
            changed = _decoded_json(changes)
            if not isinstance(changed, dict):
                raise TypeError
            if changed:
                wrong = admission.wrong_fields(event, version, tuple(changed))
                if wrong is not None:
                    raise AuditFailure(wrong, seq, ref)
            for name, (old, new) in changed.items():
                before = data.get(name)
                if old != before or type(old) is not type(before):
                    raise AuditFailure(f"it says {name} was {encode(old)}, but the rows before "
                                       f"it leave {encode(before)}", seq, ref)
                data[name] = new
        except (TypeError, ValueError, AttributeError):
            raise AuditFailure("its changes are not readable (the row was altered)", seq,
                               ref) from None
        if event not in WRITES_WITHOUT_EVENT and actor not in participants.setdefault(event, []):
            participants[event].append(actor)
    return data, participants


def _stored_dict(value: Any, what: str, seq: int, ref: str) -> dict[str, Any]:
    try:
        decoded = _decoded_json(value)
        if not isinstance(decoded, dict):
            raise TypeError
    except (TypeError, ValueError):
        raise AuditFailure(f"{ref}'s stored {what} are not readable", seq, ref) from None
    return decoded


def _moment(value: Any) -> datetime | None:
    """A stored moment in UTC (SQLite keeps text, in more than one shape), or None."""
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    except ValueError:
        return None
    if not isinstance(moment, datetime):
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _day_text(value: Any) -> str | None:
    """A stored day as text (SQLite keeps numbers and bytes in a DATE column too)."""
    if value is None or isinstance(value, str):
        return value
    return value.isoformat() if isinstance(value, date) else repr(value)


def _is_day(text: str) -> bool:
    try:
        return date.fromisoformat(text).isoformat() == text
    except ValueError:
        return False


def _check_drafting(ref: str, drafter: Any, drafted_at: Any, first: tuple[Any, ...]) -> None:
    """Who a record says drafted it, and when, are its first history row's actor and time,
    the time stored as the program stores moments (the same moment spelt otherwise would sort
    otherwise in SQLite's comparisons of text)."""
    seq, actor, stored_at = first[0], first[5], first[6]
    drafted, at = _moment(drafted_at), _moment(stored_at)
    if drafted is None:
        raise AuditFailure(f"{ref}'s drafting time is not readable", seq, ref)
    if not stored_as_written(drafted_at):
        raise AuditFailure(f"{ref}'s drafting time is not stored as the program stores "
                           f"moments ({drafted_at!r}): it was altered", seq, ref)
    if drafter != actor or drafted != at:
        when = at.isoformat() if at else stored_at
        raise AuditFailure(f"{ref} says it was drafted by {drafter} at {drafted.isoformat()}; "
                           f"its history says {actor} at {when}", seq, ref)


def _check_records(snapshot: Scanner, due_field: str | None, admission: Admission) -> int:
    records = 0
    actors = Actors(snapshot.users())
    order = LogOrder(admission.version, admission.versions)
    judged: dict[tuple[Any, ...], str | None] = {}
    highest: dict[str, tuple[int, str]] = {}  # each PREFIX-YEAR's highest number
    for record, rows in snapshot.records_with_history():
        if record[0] is None:
            seq = rows[0][0]
            raise AuditFailure("its record no longer exists", seq)
        records += 1
        _id, ref, state, version, stored, drafter, drafted_at, joined, due_on, process = record
        if not rows:
            raise AuditFailure(f"{ref} has no history row at all", None, ref)
        counted, _, number = str(ref).rpartition("-")  # PREFIX-YEAR, NUMBER
        if (len(number), number) > highest.get(counted, (0, "")):
            highest[counted] = (len(number), number)
        data, participants = _replayed(ref, rows, admission)
        first_seq, first_event = rows[0][0], rows[0][4]
        last_seq, last_to = rows[-1][:2]
        data_text = encode(data)
        # stored as the program writes it, the very text of what the history says: nothing to
        # decode (anything else is decoded and compared value by value)
        as_written = stored == data_text
        fields = data if as_written else _stored_dict(stored, "fields", last_seq, ref)
        if state != last_to:
            raise AuditFailure(f"{ref} is {state} but its last history row says {last_to}",
                               last_seq, ref)
        if version != len(rows):
            raise AuditFailure(f"{ref} is at version {version} but has {len(rows)} history "
                               "rows", last_seq, ref)
        if not as_written:
            fields_text = encode(fields)
            _once_each_key(stored, fields_text, "fields", last_seq, ref)
            changed = [] if data_text == fields_text else sorted(
                k for k in set(data) | set(fields)  # 16, 16.0 and true differ here, as in JSON
                if encode(data.get(k)) != encode(fields.get(k)))
            if changed:
                raise AuditFailure(f"{ref} fields {', '.join(changed)} differ from what its "
                                   "history records", last_seq, ref)
        if rows[0][9] == admission.version and process != admission.name:
            raise AuditFailure(f"{ref} says it is a request of the {process} process, but its "
                               f"history is {admission.version}'s", first_seq, ref)
        if first_event != "create":
            raise AuditFailure(f"{ref}'s first history row is {first_event}, not its drafting",
                               first_seq, ref)
        _check_drafting(ref, drafter, drafted_at, rows[0])
        left = None
        for place, row in enumerate(rows, 1):
            if row[11] is not None and row[11] != place:
                raise AuditFailure(f"it counts itself {ref}'s row {row[11]}, but it is its row "
                                   f"{place}", row[0], ref)
            if row[10] != left:
                before = "its row before left it" if left else "it is its drafting: it was"
                raise AuditFailure(f"it says {ref} left {row[10] or 'no state'}, but {before} "
                                   f"{left or 'in no state'}", row[0], ref)
            left = row[1]
            # what the row's move and roles are judged on; the same few over and over
            key = (row[1], row[4], row[5], row[7], row[8], row[9], row[10], row[5] == drafter)
            wrong = judged.get(key, "")
            if wrong == "":
                wrong = judged[key] = (admission.wrong_move(row) or actors.wrong(row)
                                       or admission.wrong(row, drafter))
            if wrong is not None:
                raise AuditFailure(wrong, row[0], ref)
            order.saw(row)
        if joined != encode(participants):  # not the very text: decoded and compared
            took_part = _stored_dict(joined, "participants", last_seq, ref)
            _once_each_key(joined, encode(took_part), "participants", last_seq, ref)
        else:
            took_part = participants
        if took_part != participants:
            raise AuditFailure(f"{ref}'s participants differ from who its history says fired "
                               "its events", last_seq, ref)
        due = data.get(due_field) if due_field else None
        due = due if isinstance(due, str) else None
        stored_due = _day_text(due_on)
        if stored_due != due:
            shown = repr(due_on) if isinstance(due_on, str) and not _is_day(due_on) else (
                stored_due)  # a day with a space added reads as the day, unquoted
            said = f"is due on {shown}" if stored_due else "has no due date"
            raise AuditFailure(f"{ref} {said} but its history says "
                               f"{due or 'it has none'}", last_seq, ref)
    order.check(snapshot)
    _check_counters(snapshot, highest)
    return records


def _check_counters(snapshot: Scanner, highest: dict[str, tuple[int, str]]) -> None:
    """Each year's reference counter stands at or past the highest reference it gave
    (``highest``: by ``PREFIX-YEAR``, the longest, then greatest, number seen): one set back
    would hand out a reference taken."""
    counters = snapshot.ref_counters()
    for key, (_, number) in sorted(highest.items()):
        prefix, _, year = key.rpartition("-")
        if not (year + number).isascii() or not year.isdigit() or not number.isdigit():
            continue  # a reference spelled otherwise: its request's own checks name it
        last = counters.get((prefix, int(year)))
        if not isinstance(last, int) or isinstance(last, bool) or last < int(number):
            raise AuditFailure(f"the reference counter of {key} stands at {last}, behind "
                               f"{key}-{number}: it would give out references taken (altered "
                               "or removed)")


class LogOrder:
    """What once begun goes on for every later row: once a row keeps the roles acted under (or
    its request's version), every row after it does; once a row is of the process version in
    use, every row after it is. Rows are seen by record, so the extremes are kept and, where
    they cross, the first row out of order is looked up by sequence."""

    def __init__(self, version: str | None, versions: frozenset[str | None] = frozenset()
                 ) -> None:
        self.version = version
        self.versions = versions  # this version and the process's earlier ones
        self.unknown: tuple[int, str, Any] | None = None  # lowest row of a version never had
        self.first_kept: int | None = None  # lowest row keeping the roles acted under
        self.last_unkept = 0  # highest row not keeping them
        self.first_counted: int | None = None  # lowest row keeping its request's version
        self.last_uncounted = 0  # highest row not keeping it
        self.first_current: int | None = None  # lowest row of the version in use
        self.last_other = 0  # highest row of another version

    def saw(self, row: tuple[Any, ...]) -> None:
        seq = row[0]
        if row[8] is None:
            self.last_unkept = max(self.last_unkept, seq)
        elif self.first_kept is None or seq < self.first_kept:
            self.first_kept = seq
        if row[11] is None:
            self.last_uncounted = max(self.last_uncounted, seq)
        elif self.first_counted is None or seq < self.first_counted:
            self.first_counted = seq
        if self.version is None:
            return
        if row[9] != self.version:
            self.last_other = max(self.last_other, seq)
            if row[9] not in self.versions and (self.unknown is None or seq < self.unknown[0]):
                self.unknown = (seq, row[3], row[9])
        elif self.first_current is None or seq < self.first_current:
            self.first_current = seq

    def check(self, snapshot: Scanner) -> None:
        if self.unknown is not None:  # else rows could be exempted from this version's checks
            seq, ref, version = self.unknown
            had = ", ".join(sorted(v for v in self.versions if v is not None))
            raise AuditFailure(f"it is of process version {version!r}, which the process never "
                               f"had (its versions: {had}): written by another program, or "
                               "altered", seq, ref)
        if self.first_kept is not None and self.last_unkept > self.first_kept:
            found = snapshot.first_after(self.first_kept, "acted_as IS NULL")
            if found is not None:
                raise AuditFailure("it does not keep the roles its actor acted under, as every "
                                   f"row from row {self.first_kept} on does", *found)
        if self.first_counted is not None and self.last_uncounted > self.first_counted:
            found = snapshot.first_after(self.first_counted, "version IS NULL")
            if found is not None:
                raise AuditFailure("it does not keep its request's version, as every row from "
                                   f"row {self.first_counted} on does", *found)
        if self.first_current is not None and self.last_other > self.first_current:
            found = snapshot.first_after(self.first_current, "process_version <> ?",
                                         (self.version,))
            if found is not None:
                raise AuditFailure(f"it is of another process version than {self.version}, "
                                   f"which every row from row {self.first_current} on is of "
                                   "(written by another program, or altered)", *found)


# how each chained log's change is hashed (the change as Scanner.users and Scanner.policy
# read it: ``seq`` first, the stored link last)
CHANGE_ROW: dict[str, Callable[[tuple[Any, ...]], dict[str, Any]]] = {
    "policy": lambda c: policy_change_row(*c[1:11]),
    "user": lambda c: user_change_row(*c[1:9]),
}


def _links(what: str, changes: Sequence[tuple[Any, ...]]
           ) -> Iterator[tuple[tuple[Any, ...], bool, str]]:
    """Each change of a chained log, whether it follows from those before it, and the link
    the chain has reached."""
    link = GENESIS
    for change in changes:
        try:
            link = chain_link(link, CHANGE_ROW[what](change))
        except (TypeError, ValueError, AttributeError):
            link = ""
        yield change, link == change[-1], link


def _intact(what: str, changes: Sequence[tuple[Any, ...]]) -> bool:
    """Each change of a chained log follows from those before it."""
    return all(follows for _, follows, _ in _links(what, changes))


def _replayed_log(what: str, head: tuple[Any, ...] | None, changes: list[tuple[Any, ...]],
                  replay: Callable[[dict[Any, Any], tuple[Any, ...]], str | None]
                  ) -> dict[Any, Any] | AuditFailure:
    """A chained log of changes walked in order: each link recomputed (:func:`_links`), each
    change replayed (``replay`` says what is wrong with it, if anything), and the chain's end
    held against the log head's count and link. Returns what the changes made, or the
    failure."""
    link, replayed = GENESIS, {}
    for change, follows, reached in _links(what, changes):
        seq, link = change[0], reached
        if not follows:
            return AuditFailure(f"{what} change {seq} does not follow from the changes before "
                                "it (altered, removed or reordered)")
        try:
            wrong = replay(replayed, change)
        except (TypeError, ValueError, AttributeError):  # values of shapes no change has
            wrong = "is not a change the program makes (its values are not readable)"
        if wrong:
            return AuditFailure(f"{what} change {seq} {wrong}")
    if head is None:
        return AuditFailure(f"the log head is missing: the {what} log cannot be checked")
    ended = chain_end(f"{what} log", "changes", len(changes), link, head[0], head[1])
    return replayed if ended is None else ended


def judged_from(scanner: Scanner) -> int | None:
    """The first row written by a program that keeps the changes' places (and judges what it
    writes as :mod:`workflow.rejudge` does): None when no change keeps one yet."""
    places = Places.read(scanner, _intact)
    return None if places is None or places.placed_from == sys.maxsize else places.placed_from


def check_policy(snapshot: Scanner, size: int, admission: dict[str, Any] | None = None,
                 admins: Collection[str] | None = None) -> int | AuditFailure:
    """The policy changes' chain is unbroken and ends where the log head says, each change is
    one the program makes (see :class:`PolicyChanges`: ``admins`` are the users ever registered
    as admins), and the entries are exactly what the changes made of them; the failure is
    returned, to be raised before the history's."""
    head, changes, entries = snapshot.policy()
    described = admission or {}
    rules = PolicyChanges(admins, described.get("policy_kinds"),
                          described.get("policy_subject_kind"))
    # a change: seq, entry id, action, subject, kind, since, until, actor, at, reason,
    # after_row, link
    replayed = _replayed_log("policy", head, changes,
                             lambda state, c: rules.replay(state, *c[1:10],
                                                           placed=c[10] is not None))
    if isinstance(replayed, AuditFailure):
        return replayed
    wrong = wrong_places("policy", changes, 10, size)
    if wrong is not None:
        return AuditFailure(wrong)
    placed = Places(snapshot.users()[1], changes)  # the user log is checked before
    for change in changes:
        seq, actor, place = change[0], change[7], change[10]
        if place is not None and not placed.admin_at(actor, place):
            return AuditFailure(f"policy change {seq} is made by {actor}, who is no active "
                                f"admin at its place (after row {place})")
    stored_entries = {row[0]: tuple(row[1:]) for row in entries}
    for entry_id in sorted(set(replayed) | set(stored_entries)):
        if replayed.get(entry_id) != stored_entries.get(entry_id):
            subject = (stored_entries.get(entry_id) or replayed[entry_id])[0]
            return AuditFailure(f"policy entry {entry_id} ({subject}) differs from what the "
                                "policy changes say (altered, removed or slipped in)")
    return len(changes)


def check_users(snapshot: Scanner, size: int, admission: dict[str, Any] | None = None
                ) -> tuple[int | AuditFailure, set[str]]:
    """The user changes' chain is unbroken and ends where the log head says, each change is one
    the program makes (see :class:`UserChanges`), and the users are exactly what the changes
    made of them: a role granted, a user slipped in or enabled again behind the program's back
    shows. The failure is returned, to be raised before the history's, with everyone the log
    registered as an admin."""
    head, changes, users = snapshot.users()
    rules = UserChanges((admission or {}).get("roles"))
    # a change: seq, action, name, roles, active, actor, at, after_row, reason, link
    replayed = _replayed_log("user", head, changes,
                             lambda state, c: rules.replay(state, *c[1:7], reason=c[8],
                                                           placed=c[7] is not None))
    if isinstance(replayed, AuditFailure):
        return replayed, rules.admins
    wrong = wrong_places("user", changes, 7, size)
    if wrong is not None:
        return AuditFailure(wrong), rules.admins
    stored_users = {row[0]: (sorted_or_not(row[1]), *row[2:]) for row in users}
    for name in sorted(set(replayed) | set(stored_users)):
        if replayed.get(name) != stored_users.get(name):
            return AuditFailure(f"user {name} differs from what the user changes say (roles, "
                                "state or registration altered, or the user slipped in)"
                                ), rules.admins
    return len(changes), rules.admins


def chain_end(log: str, what: str, count: int, link: str, head_count: int,
              head_link: str) -> AuditFailure | None:
    """A chained log (refusals, policy changes) ends where the log head says it does."""
    if head_count != count:
        return AuditFailure(f"the {log} holds {count} chained {what} but its head records "
                            f"{head_count}: {what} were cut off or forged")
    if head_link != link:
        return AuditFailure(f"the {log}'s last link is not the one its head records: {what} "
                            "were rewritten or forged")
    return None
