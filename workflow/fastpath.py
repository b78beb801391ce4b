"""The fixed statements of every history-writing operation, run on the DBAPI connection.

Creating, editing and firing are the hot path: a handful of known statements per call, where
SQLAlchemy's ORM would cost more than the database itself. They run here, on the driver's own
connection (sqlite3 or psycopg), storing values exactly as the SQLModel tables read them back;
everything else (schema, queries, administration) stays SQLModel.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cached_property, lru_cache
from itertools import groupby
from operator import itemgetter
from typing import Any

from workflow import interrupts, merkle, prepared
from workflow.clock import iso, sqlite_text
from workflow.errors import Conflict, Replan, Unreadable, WorkflowError, stored_json
from workflow.ledger import assemble, chain_link, encode, refusal_row
from workflow.ledger import string as _string
from workflow.process import Restriction

USER_SQL = "SELECT name, roles, active FROM wf_user WHERE name = ?"
RECORD_SQL = ("SELECT id, ref, state, version, data, participants, created_by, created_at "
              "FROM wf_record WHERE ref = ?")
POLICY_SQL = "SELECT subject, kind, since, until, reason FROM wf_policy_entry ORDER BY id"
HEAD_SQL = "SELECT size, frontier FROM wf_log_head WHERE id = 1"
COUNTER_SQL = ("INSERT INTO wf_ref_counter (prefix, year, last) VALUES (?, ?, ?) "
               "ON CONFLICT (prefix, year) DO UPDATE SET last = wf_ref_counter.last + ? "
               "RETURNING last")
RECORD_INSERT = (
    "INSERT INTO wf_record (id, ref, process, state, version, data, participants, due_on, "
    "created_by, created_at) VALUES (?, ?, ?, ?, 1, ?, ?, ?, ?, ?)")
NEXT_IDS_SQL = {  # ids for new records: SQLite's writer holds the lock, PostgreSQL's sequence
    True: "SELECT coalesce(max(id), 0) FROM wf_record",
    False: "SELECT nextval(pg_get_serial_sequence('wf_record', 'id')) "
           "FROM generate_series(1, ?)",
}
HISTORY_INSERT = (
    "INSERT INTO wf_history (seq, record_id, ref, event, from_state, to_state, actor, roles, "
    "at, reason, changes, consulted, process_version, leaf_hash, root_hash, acted_as, version) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")


@dataclass
class UserRow:
    name: str
    roles: list[str]
    active: bool

    @cached_property
    def role_set(self) -> frozenset[str]:
        return frozenset(self.roles)


@dataclass
class RecordRow:
    id: int
    ref: str
    state: str
    version: int
    data: dict[str, Any]
    participants: dict[str, list[str]]
    created_by: str
    stored_at: Any = None  # created_at as the driver returned it: decoded only when asked for

    @property
    def created_at(self) -> datetime | None:
        return None if self.stored_at is None else moment_out(self.stored_at)


def moment_out(value: Any) -> datetime:
    """A stored moment as an aware UTC datetime (SQLite keeps text, PostgreSQL a datetime);
    one that is none (SQLite keeps anything) is unreadable, not a crash."""
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else value
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except (TypeError, ValueError, AttributeError, OverflowError):
        raise Unreadable("a moment stored in the database is not readable (changed behind the "
                         "program: `workflow audit verify` names where)") from None


def _as_is(text: str) -> str:
    return text


def _encode_small(value: Any) -> str:
    """Canonical JSON of a history row's roles, changes or consulted: most are empty; a string
    is such JSON already encoded."""
    if isinstance(value, str):
        return value
    if not value:
        return "[]" if isinstance(value, list) else "{}"
    if isinstance(value, list):
        return _encode_names(tuple(value))
    return encode(value)


@lru_cache(maxsize=64)
def _encode_names(names: tuple[str, ...]) -> str:
    """A user's roles: the same few lists over and over."""
    return encode(list(names))


def encode_participants(participants: dict[str, list[str]]) -> str:
    """``encode(participants)`` for who fired what (names by event), put together directly:
    every firing writes it."""
    return "{" + ",".join(
        f"{_string(event)}:[{','.join([_string(name) for name in names])}]"
        for event, names in sorted(participants.items())) + "}"


@lru_cache(maxsize=8)
def _update_sql(state: bool, data: bool, participants: bool) -> str:
    """A record's version-checked update, setting only the columns that change."""
    sets = ["version = ?"]
    if state:
        sets.append("state = ?")
    if data:
        sets += ["data = ?", "due_on = ?"]
    if participants:
        sets.append("participants = ?")
    return f"UPDATE wf_record SET {', '.join(sets)} WHERE id = ? AND version = ?"


_last_frontier: tuple[str, tuple[bytes, ...]] = ("", ())


def _frontier_nodes(text: str) -> tuple[bytes, ...]:
    """The log head's stored frontier: usually the text this process wrote last, so it is
    decoded only when someone else wrote it."""
    global _last_frontier
    last = _last_frontier  # one read: another thread may replace it meanwhile
    if text == last[0]:
        return last[1]
    nodes = tuple(bytes.fromhex(h) for h in stored_json(text))
    _last_frontier = (text, nodes)
    return nodes


def _frontier_text(nodes: list[bytes]) -> str:
    global _last_frontier
    text = '["' + '","'.join([n.hex() for n in nodes]) + '"]' if nodes else "[]"  # = encode()
    _last_frontier = (text, tuple(nodes))
    return text


class Tx:
    """One write transaction on the driver connection; placeholders written as ``?``.

    ``opens`` (PostgreSQL, a connection in autocommit mode): this transaction sends its own
    BEGIN, in the same query as its first statements (the log head's lock), and, when it
    updates at most one record, its COMMIT in the same query as its writes; otherwise the
    driver's ``commit()`` sends COMMIT on its own.
    """

    def __init__(self, raw: Any, sqlite: bool, *, opens: bool = False) -> None:
        self.raw = raw
        self.sqlite = sqlite
        self._cursor: Any = None
        self._begin = opens  # BEGIN still to be sent
        self._began = False  # this transaction sent its own BEGIN (and so may send COMMIT)
        self.frontier: merkle.Frontier | None = None  # the log head, once read
        self._users: dict[str, UserRow | None] = {}
        self._policy: list[Restriction] | None = None
        self._records: dict[str, RecordRow | None] = {}  # read or written in this transaction
        self._appended: list[tuple[Any, ...]] = []  # history rows, inserted by finish()
        self._updates: list[tuple[str, str, tuple[Any, ...]]] = []  # deferred, see finish()
        self._inserts: list[tuple[Any, ...]] = []  # new records, deferred likewise
        self._ids: deque[int] = deque()  # record ids reserved by reserve_records()
        self._moment_memo: tuple[datetime, Any] | None = None
        self.wrote = False  # something was sent to be written: a commit changes the database

    @cached_property
    def _no_one(self) -> Any:
        """A new record's participants, encoded once per transaction that creates."""
        return self._json_in({})

    @property
    def cursor(self) -> Any:
        """The transaction's cursor, made when first used (``cached_property`` takes a lock on
        each first use, which every firing would pay)."""
        cursor = self._cursor
        if cursor is None:
            cursor = self._cursor = self.raw.cursor()
        return cursor

    @cached_property
    def _client_cursor(self) -> Any:
        """PostgreSQL: the cursor that binds values itself, for several statements at once;
        one per transaction (a cursor costs more to make than a small query to send)."""
        from psycopg import ClientCursor

        return ClientCursor(self.raw)

    # -- value conversions (what the SQLModel column types store and read) ----------------

    def _json_in(self, value: Any) -> Any:
        if self.sqlite:
            return encode(value)
        from psycopg.types.json import Json

        return Json(value)

    def _json_text(self, text: str) -> Any:
        """A JSON column's value already encoded (canonically, for the history columns)."""
        if self.sqlite:
            return text
        from psycopg.types.json import Json

        return Json(text, dumps=_as_is)

    def _json_out(self, value: Any) -> Any:
        if value == "{}":
            return {}  # a record no event has been fired on yet: its participants
        return stored_json(value) if isinstance(value, str) else value

    def _moment(self, value: datetime) -> Any:
        if self._moment_memo is not None and self._moment_memo[0] == value:
            return self._moment_memo[1]  # a batch stamps every row with one moment
        stored = sqlite_text(value) if self.sqlite else value.astimezone(UTC)
        self._moment_memo = (value, stored)
        return stored

    def _day_in(self, value: date | None) -> Any:
        if value is None:
            return None
        return value.isoformat() if self.sqlite else value

    def _day_out(self, value: Any) -> date | None:
        if value is None or isinstance(value, date):
            return value
        return date.fromisoformat(value)

    def run(self, sql: str, params: tuple[Any, ...] = ()) -> Any:
        if not self.sqlite:
            sql = sql.replace("?", "%s")
            if self._begin:
                self.cursor.execute("BEGIN")
                self._begin, self._began = False, True
        self.cursor.execute(sql, params)
        return self.cursor

    # -- the statements --------------------------------------------------------------------

    def prefetch(self, actor: str, ref: str) -> None:
        """PostgreSQL: the locked log head, the user, the policy and one record in a single
        round trip; later calls for them read what came back.

        The head is locked before anything is read: administrative changes lock it too, so a
        firing sees every user and policy change committed before its own place in the log
        (each statement of the round trip reads the database as it is when that statement
        starts).
        """
        if self.sqlite or "\x00" in actor or "\x00" in ref:
            return
        head, user, policy, record = (rows for _, rows in self._together([
            (HEAD_SQL + " FOR UPDATE", ()), (USER_SQL, (actor,)), (POLICY_SQL, ()),
            (RECORD_SQL, (ref,))]))
        self._users[actor] = self._user_row(user[0]) if user else None
        self._policy = self._policy_rows(policy)
        self.frontier = self._frontier(head[0])
        self._records[ref] = self._record_row(record[0]) if record else None

    def _together(self, statements: list[tuple[str, tuple[Any, ...]]]
                  ) -> list[tuple[int, list[tuple[Any, ...]]]]:
        """PostgreSQL: several statements sent as one query, so in one round trip (values
        bound by the client, which psycopg allows only that way), each prepared once per
        connection (:mod:`workflow.prepared`); each one's row count and rows, in order.
        Cheaper here than pipeline mode for a handful of statements."""
        from psycopg.pq import ExecStatus

        begin = self._begin
        if begin:
            statements = [("BEGIN", ()), *statements]
        values = tuple(value for _, more in statements for value in more)
        try:
            leading = self._send(statements, values)
        except Exception as error:
            if not prepared.lost(error):
                raise
            if not begin:  # the transaction's earlier work is lost with it: all of it again
                raise Replan("a prepared statement was lost; trying again") from None
            # in the query that opens the transaction nothing is done yet: roll back and send
            # it once more, with the statements prepared afresh
            self._client_cursor.execute("ROLLBACK")
            leading = self._send(statements, values)
        if begin:
            self._begin, self._began = False, True
        cursor = self._client_cursor
        tuples = ExecStatus.TUPLES_OK
        results = []
        while True:
            # the result's status, not its description: that builds a column object per field
            rows = cursor.fetchall() if cursor.pgresult.status == tuples else []
            results.append((cursor.rowcount, rows))
            if not cursor.nextset():
                return results[leading + begin:]

    def _send(self, statements: list[tuple[str, tuple[Any, ...]]],
              values: tuple[Any, ...]) -> int:
        """Send the statements as one query; how many results come before their own."""
        known = prepared.on(self.raw)
        try:
            query, leading = known.query(statements)
            self._client_cursor.execute(query, values)
        except BaseException:
            known.failed()
            raise
        return leading

    def lock_head(self) -> None:
        """Read and lock the log head first, as every writer does: one lock order, no deadlock
        (firings take it in :meth:`prefetch`)."""
        if self.frontier is None:
            if self.sqlite:
                row = self.run(HEAD_SQL).fetchone()
            else:  # in one query with BEGIN
                [(_, rows)] = self._together([(HEAD_SQL + " FOR UPDATE", ())])
                row = rows[0] if rows else None
            self.frontier = self._frontier(row)

    def _user_row(self, row: tuple[Any, ...]) -> UserRow:
        return UserRow(row[0], self._json_out(row[1]), bool(row[2]))

    def _record_row(self, row: tuple[Any, ...]) -> RecordRow:
        try:
            data, participants = self._json_out(row[4]), self._json_out(row[5])
            if not isinstance(data, dict) or not isinstance(participants, dict):
                raise TypeError("fields and participants are JSON objects")
            record = RecordRow(row[0], row[1], row[2], row[3], data, participants, row[6],
                               row[7])
            if isinstance(row[7], str):
                datetime.fromisoformat(row[7])  # unreadable text fails here, not when shown
            return record
        except (TypeError, ValueError):
            raise WorkflowError(f"{row[1]}: its stored fields cannot be read (the database was "
                                "changed behind the program; `workflow audit verify` names "
                                "what)") from None

    def _policy_rows(self, rows: list[tuple[Any, ...]]) -> list[Restriction]:
        return [Restriction(r[0], r[1], self._day_out(r[2]), self._day_out(r[3]), r[4])  # type: ignore[arg-type]
                for r in rows]

    def _frontier(self, row: tuple[Any, ...]) -> merkle.Frontier:
        """The tree the log head keeps; one that is no tree's (nodes miscounted, or not
        hashes) is not appended to: every row after would store a wrong root."""
        size, stored = row
        try:
            if isinstance(stored, str):
                return merkle.Frontier(size, _frontier_nodes(stored))
            return merkle.Frontier(size, [bytes.fromhex(h) for h in stored])
        except (TypeError, ValueError):
            raise Unreadable("the log head's tree is not readable (changed behind the "
                             "program: `workflow audit verify` names it); nothing was "
                             "written") from None

    def user(self, name: str) -> UserRow | None:
        if "\x00" in name:
            return None  # no stored name holds one, and PostgreSQL cannot even compare it
        if name not in self._users:
            row = self.run(USER_SQL, (name,)).fetchone()
            self._users[name] = None if row is None else self._user_row(row)
        return self._users[name]

    def record(self, ref: str) -> RecordRow | None:
        """The record as this transaction last read or wrote it."""
        if "\x00" in ref:
            return None
        if ref not in self._records:
            row = self.run(RECORD_SQL, (ref,)).fetchone()
            self._records[ref] = None if row is None else self._record_row(row)
        return self._records[ref]

    def prefetch_records(self, refs: list[str], chunk: int = 500) -> None:
        """Read many records in a few statements; later :meth:`record` calls find them."""
        wanted = list(dict.fromkeys(r for r in refs if r not in self._records and "\x00" not in r))
        for start in range(0, len(wanted), chunk):
            part = wanted[start:start + chunk]
            for r in part:
                self._records[r] = None
            marks = ", ".join("?" * len(part))
            for row in self.run(RECORD_SQL.replace("ref = ?", f"ref IN ({marks})"),
                                tuple(part)).fetchall():
                self._records[row[1]] = self._record_row(row)

    def records(self, where: str = "", params: tuple[Any, ...] = (),
                order: str = "id") -> list[RecordRow]:
        rows = self.run(
            "SELECT id, ref, state, version, data, participants, created_by, created_at "
            f"FROM wf_record {where} ORDER BY {order}", params).fetchall()
        return [self._record_row(r) for r in rows]

    def each_record(self, states: tuple[str, ...] | None = None, chunk: int = 1000
                    ) -> Iterator[RecordRow]:
        """Every record (in one of ``states``, if given) in id order, read ``chunk`` at a time:
        memory stays flat."""
        among = [] if states is None else [f"state IN ({', '.join('?' * len(states))})"]
        after: tuple[Any, ...] = ()  # the first chunk from the lowest id on, whatever it is
        while True:
            where = " AND ".join(among + ["id > ?"] * len(after)) or "TRUE"
            rows = self.run(RECORD_SQL.replace("ref = ?", f"{where} ORDER BY id LIMIT ?"),
                            (*(states or ()), *after, chunk)).fetchall()
            yield from (self._record_row(row) for row in rows)
            if len(rows) < chunk:
                return
            after = (rows[-1][0],)

    def last_firing(self, record_id: int, event: str) -> tuple[str, datetime] | None:
        """Who fired ``event`` on the record last, and when (None: nobody)."""
        row = self.run("SELECT actor, at FROM wf_history WHERE record_id = ? AND event = ? "
                       "ORDER BY seq DESC LIMIT 1", (record_id, event)).fetchone()
        return None if row is None else (str(row[0]), moment_out(row[1]))

    def day_in(self, value: date) -> Any:
        return self._day_in(value)

    def setting(self, key: str) -> str | None:
        row = self.run("SELECT value FROM wf_setting WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def session_user(self) -> str:
        return str(self.run("SELECT session_user").fetchone()[0])

    def insert_refusal(self, clock: Callable[[], datetime], actor: str, ref: str | None,
                       event: str, state: str | None, rule: str, message: str) -> None:
        """Append a refusal, linked to the previous one; the head keeps the last link. Its time
        is read once the head is locked, so times follow the chain's order."""
        self.wrote = True
        lock = "" if self.sqlite else " FOR UPDATE"
        count, previous = self.run(
            f"SELECT refusals, refusal_chain FROM wf_log_head WHERE id = 1{lock}").fetchone()
        at = clock()
        row = refusal_row(iso(at), actor, ref, event, state, rule, message)
        link = chain_link(previous, row)
        kept = self.run(
            "INSERT INTO wf_refusal (at, actor, ref, event, state, rule, message, chain) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (self._moment(at), actor, ref, event, state, rule, message, link)).rowcount
        kept += self.run("UPDATE wf_log_head SET refusals = ?, refusal_chain = ? WHERE id = 1",
                         (count + 1, link)).rowcount
        if kept != 2:  # a trigger or rule dropped a write: the refusal would go untold
            raise WorkflowError("the database dropped the refusal's record (a trigger or rule "
                                "that is not the program's: `workflow audit verify` names it)")

    def policy(self) -> list[Restriction]:
        if self._policy is None:
            self._policy = self._policy_rows(self.run(POLICY_SQL).fetchall())
        return self._policy

    def next_number(self, prefix: str, year: int, count: int = 1) -> int:
        """Reserve ``count`` reference numbers for the year; returns the first."""
        row = self.run(COUNTER_SQL, (prefix, year, count, count)).fetchone()
        return int(row[0]) - count + 1

    def reserve_records(self, prefix: str, year: int, count: int) -> int:
        """Reserve ``count`` reference numbers for the year (returns the first) and ``count``
        record ids, which :meth:`insert_record` hands out to deferred inserts.

        On SQLite the ids follow the highest one (BEGIN IMMEDIATE keeps other writers out until
        commit); on PostgreSQL they come from the table's sequence, in the same round trip as
        the numbers.
        """
        counter = (COUNTER_SQL, (prefix, year, count, count))
        if self.sqlite:
            last = int(self.run(*counter).fetchone()[0])
            top = int(self.run(NEXT_IDS_SQL[True]).fetchone()[0])
            self._ids.extend(range(top + 1, top + 1 + count))
        else:
            [(_, numbered), (_, ids)] = self._together([counter, (NEXT_IDS_SQL[False], (count,))])
            last = int(numbered[0][0])
            self._ids.extend(int(row[0]) for row in ids)
        return last - count + 1

    def insert_record(self, ref: str, process: str, state: str, data: dict[str, Any],
                      created_by: str, now: datetime, due_on: date | None = None, *,
                      deferred: bool = False) -> RecordRow:
        """A new record at version 1. ``deferred`` takes an id from :meth:`reserve_records`
        and sends the insert with the history rows in :meth:`finish`; a transaction that
        reserves ids inserts every record that way (an insert sent at once would take an id
        reserved)."""
        values = (ref, process, state, self._json_in(data), self._no_one, self._day_in(due_on),
                  created_by, self._moment(now))
        if deferred:
            if not self._ids:
                raise RuntimeError("a deferred insert needs an id from reserve_records()")
            record_id = self._ids.popleft()
            self._inserts.append((record_id, *values))
        else:
            row = self.run(
                "INSERT INTO wf_record (ref, process, state, version, data, participants, "
                "due_on, created_by, created_at) VALUES (?, ?, ?, 1, ?, ?, ?, ?, ?) "
                "RETURNING id", values).fetchone()
            record_id = int(row[0])
        return RecordRow(record_id, ref, state, 1, data, {}, created_by, now)

    def update_record(self, record: RecordRow, state: str, data: dict[str, Any],
                      participants: dict[str, list[str]], due_on: date | None, *,
                      deferred: bool = False) -> bool:
        """The version-checked update; False when someone else wrote first.

        ``deferred`` sends it with the history rows in :meth:`finish` (on PostgreSQL in the
        same round trip, on SQLite with a batch's other updates of the same shape in one
        ``executemany``), which then raises :class:`Conflict` for it instead.
        """
        new_state, new_data = state != record.state, data != record.data
        new_participants = participants != record.participants
        values: list[Any] = [record.version + 1]
        if new_state:  # an unchanged indexed column is left out: no page written
            values.append(state)
        if new_data:  # due_on follows from data: unchanged with it
            values += [self._json_in(data), self._day_in(due_on)]
        if new_participants:
            values.append(self._json_text(encode_participants(participants)))
        sql = _update_sql(new_state, new_data, new_participants)
        params = (*values, record.id, record.version)
        if deferred:
            self._updates.append((record.ref, sql, params))
        elif self.run(sql, params).rowcount != 1:
            return False
        self._records[record.ref] = RecordRow(
            record.id, record.ref, state, record.version + 1, data, participants,
            record.created_by, record.stored_at)
        return True

    def append_history(self, record: RecordRow, row: dict[str, Any], at: datetime) -> int:
        """Append one leaf to the Merkle log: numbered after the last, root stored with it.

        The head row is read and locked once per transaction (FOR UPDATE on PostgreSQL; SQLite
        writes are serialised by BEGIN IMMEDIATE) and written back by :meth:`finish`, so
        sequence numbers follow commit order without gaps.
        """
        self.lock_head()
        frontier = self.frontier
        assert frontier is not None
        seq = row["seq"] = frontier.size + 1
        roles = _encode_small(row["roles"])
        changes = _encode_small(row["changes"])
        consulted = _encode_small(row["consulted"])
        acted_as = row.get("acted_as")  # None only for rows shaped as before it was kept
        if acted_as is not None:
            acted_as = _encode_small(acted_as)
        version = row.get("version")  # likewise
        leaf = merkle.leaf_hash(assemble(
            seq, row["ref"], row["event"], row["from"], row["to"], row["actor"], roles, row["at"],
            row["reason"], changes, consulted, row["process_version"], acted_as, version))
        root = frontier.append_and_root(leaf)
        if self.sqlite:  # JSON columns take the canonical text as it is
            stored = (roles, changes, consulted, acted_as)
        else:
            stored = tuple(None if text is None else self._json_text(text)
                           for text in (roles, changes, consulted, acted_as))
        values = (seq, record.id, row["ref"], row["event"], row["from"], row["to"],
                  row["actor"], stored[0], self._moment(at), row["reason"], stored[1], stored[2],
                  row["process_version"], leaf.hex(), root.hex(), stored[3], version)
        self._appended.append(values)
        return int(row["seq"])

    def finish(self) -> None:
        """Send the deferred new records, record updates and history rows, in that order, and
        store the log head once per transaction, after its last append; on PostgreSQL all in one
        round trip (with COMMIT too, see :meth:`_finish_and_commit`)."""
        if not self._appended and not self._updates and not self._inserts:
            return  # nothing written: the head stays as it is
        self.wrote = True
        head: list[tuple[str, tuple[Any, ...]]] = []
        if self._appended:  # append_history read the head: frontier is set
            assert self.frontier is not None
            nodes = self.frontier.nodes
            stored = (self._json_text(_frontier_text(nodes)) if self.sqlite
                      else self._json_in([n.hex() for n in nodes]))
            head.append(("UPDATE wf_log_head SET size = ?, frontier = ? WHERE id = 1",
                         (self.frontier.size, stored)))
        if self.sqlite:
            if self._inserts:
                self.cursor.executemany(RECORD_INSERT, self._inserts)
            self._sqlite_updates()
            if len(self._appended) == 1:  # one firing: executemany costs more for one row
                self.cursor.execute(HISTORY_INSERT, self._appended[0])
            else:
                self.cursor.executemany(HISTORY_INSERT, self._appended)
            for sql, values in head:
                self.run(sql, values)
        else:
            inserts = [(RECORD_INSERT, values) for values in self._inserts]
            statements = [*((HISTORY_INSERT, values) for values in self._appended), *head]
            # the writes as one statement (see _finish_and_commit) would not let an update see
            # a record inserted beside it: with new records, updates go as statements of their own.
            # A batch's writes go without COMMIT, so Ctrl-C may still cancel them while the
            # server works (the commit alone is shielded from it, see interrupts.committing)
            short = len(inserts) + len(statements) <= prepared.SHORT
            if self._began and short and (
                    not self._updates or (len(self._updates) == 1 and not inserts)):
                self._finish_and_commit(inserts + statements)
            else:
                updates = [(sql, values) for _, sql, values in self._updates]
                results = self._together(inserts + updates + statements)[len(inserts):]
                for (ref, _, _), (count, _) in zip(self._updates, results, strict=False):
                    if count != 1:
                        raise Conflict(ref)
        self._appended.clear()
        self._updates.clear()
        self._inserts.clear()

    def _sqlite_updates(self) -> None:
        """The deferred updates in order, each run of one statement shape in one
        ``executemany``; a missed version fails the transaction naming its record."""
        if len(self._updates) == 1:
            [(ref, sql, values)] = self._updates
            if self.cursor.execute(sql, values).rowcount != 1:
                raise Conflict(ref)
            return
        for sql, run in groupby(self._updates, key=itemgetter(1)):
            refs, params = zip(*((ref, values) for ref, _, values in run), strict=True)
            if self.cursor.executemany(sql, params).rowcount != len(params):
                raise Conflict(self._missed(refs, params))

    def _missed(self, refs: tuple[str, ...], params: tuple[tuple[Any, ...], ...]) -> str:
        """The first record of a run whose stored version is not the one the run's last
        update of it writes (each update's first value)."""
        written = {ref: values[0] for ref, values in zip(refs, params, strict=True)}
        for ref in refs:
            row = self.run("SELECT version FROM wf_record WHERE ref = ?", (ref,)).fetchone()
            if row is None or row[0] != written[ref]:
                return ref
        return refs[0]

    def _finish_and_commit(self, statements: list[tuple[str, tuple[Any, ...]]]) -> None:
        """PostgreSQL: the record's update, the history rows, the head and COMMIT in one round
        trip, the writes as one statement. The update's version check must then fail inside
        the statement: it divides by the number of rows updated, so a missed version undoes
        the statement and stops the query before COMMIT."""
        from psycopg.errors import DivisionByZero

        if not self._updates:
            with interrupts.committing():
                self._together([*statements, ("COMMIT", ())])
            return
        [(ref, sql, values)] = self._updates
        parts = [f"updated AS ({sql} RETURNING 1)"]
        parts += [f"w{n} AS ({write})" for n, (write, _) in enumerate(statements)]
        together = ("WITH " + ", ".join(parts) + " SELECT 1 / count(*) FROM updated",
                    values + tuple(v for _, more in statements for v in more))
        try:
            with interrupts.committing():
                self._together([together, ("COMMIT", ())])
        except DivisionByZero:
            raise Conflict(ref) from None
