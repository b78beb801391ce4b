"""Streaming reads of the whole log on the driver connection, in constant memory.

Verification and exports read every history row; through the ORM that costs more than hashing
it. Here rows come straight from the driver in batches (a server-side cursor on PostgreSQL) and
are shaped exactly as :func:`workflow.views.history_dict` shapes them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any, NamedTuple

from workflow.clock import as_utc, sqlite_text
from workflow.errors import stored_changes, stored_json
from workflow.fastpath import moment_out

BATCH = 5000
HISTORY_COLUMNS = ("seq, record_id, ref, event, from_state, to_state, actor, roles, at, reason, "
                   "changes, consulted, process_version, leaf_hash, root_hash, acted_as, version")


def stored_as_written(value: Any) -> bool:
    """Whether a moment SQLite holds as text is in the one shape the program writes,
    ``YYYY-MM-DD HH:MM:SS.ffffff`` (UTC); a moment PostgreSQL holds is one."""
    return not isinstance(value, str) or (len(value) == 26 and value[10] == " "
                                          and value[19] == ".")


def _sqlite_iso(value: str) -> str:
    """``at`` as SQLite stores it in ISO 8601, as :func:`workflow.clock.iso` writes it, for
    verification. Any other shape, the very ISO text hashed included, is made text no moment
    is, so that it matches no hash: the queries compare the stored text, and would misplace the
    same moment spelt otherwise.
    """
    if len(value) == 26 and value[10] == " " and value[19] == ".":
        fraction = value[19:]
        return (f"{value[:10]}T{value[11:19]}{'' if fraction == '.000000' else fraction}"
                "+00:00")
    return f"{value} (not stored as the program stores a moment)"


class Step(NamedTuple):
    """A history row as the point-in-time questions read it: its changes as stored, decoded
    by :meth:`changed` only where they are asked for (the report needs none)."""

    record_id: int
    seq: int
    ref: str
    event: str
    to_state: str
    actor: str
    at: datetime
    changes: Any

    def changed(self) -> dict[str, Any]:
        """Each changed field's ``[old, new]``."""
        value = stored_json(self.changes) if isinstance(self.changes, str) else self.changes
        return stored_changes(value)


class Scanner:
    def __init__(self, engine: Any, sqlite: bool, describe: Any, pinned: Any = None) -> None:
        self.engine = engine
        self.sqlite = sqlite
        self.describe = describe
        self._pinned = pinned  # the connection of a snapshot, see snapshot()

    @contextmanager
    def snapshot(self) -> Iterator[Scanner]:
        """A scanner whose reads all see one and the same state of the database (one read
        transaction; REPEATABLE READ on PostgreSQL), however many writers commit meanwhile."""
        with self._connection() as raw:
            if self._pinned is None:
                raw.execute("BEGIN" if self.sqlite else
                            "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            yield Scanner(self.engine, self.sqlite, self.describe, raw)

    def head(self) -> tuple[int, list[str], int, str] | None:
        """The log head: (size, frontier nodes in hex, refusals, refusal chain's last link)."""
        with self._connection() as raw:
            found = list(self._rows(raw, "SELECT size, frontier, refusals, refusal_chain FROM "
                                         "wf_log_head WHERE id = 1", name="head"))
        if not found:
            return None
        size, frontier, refusals, chain = found[0]
        try:
            nodes = [str(n) for n in self._json(frontier)]
        except (TypeError, ValueError):
            nodes = []  # unreadable: matches no tree
        return size, nodes, refusals, str(chain)  # counts as stored: verify checks them

    @contextmanager
    def _connection(self) -> Iterator[Any]:
        if self._pinned is not None:
            yield self._pinned
            return
        proxy = self.engine.raw_connection()
        errors = self.engine.dialect.dbapi.Error
        try:
            yield proxy.driver_connection
        except errors as error:
            raise self.describe(error) from None
        finally:
            proxy.rollback()
            proxy.close()

    def _rows(self, raw: Any, sql: str, params: tuple[Any, ...] = (),
              name: str = "scan") -> Iterator[tuple[Any, ...]]:
        if self.sqlite:
            cursor = raw.cursor()
            cursor.execute(sql, params)
        else:
            cursor = raw.cursor(name=name)
            cursor.itersize = BATCH
            cursor.execute(sql.replace("?", "%s"), params)
        try:
            while True:
                batch = cursor.fetchmany(BATCH)
                if not batch:
                    break
                yield from batch
        finally:
            cursor.close()

    def _json(self, value: Any) -> Any:
        return stored_json(value) if isinstance(value, str) else value

    def _iso(self, value: Any) -> str:
        return moment_out(value).isoformat()

    def history(self, where: str = "", params: tuple[Any, ...] = ()
                ) -> Iterator[tuple[dict[str, Any], int, str, str]]:
        """(row as history_dict, record id, stored leaf hash, stored root hash), by seq."""
        sql = f"SELECT {HISTORY_COLUMNS} FROM wf_history {where} ORDER BY seq"
        with self._connection() as raw:
            for r in self._rows(raw, sql, params, "history"):
                row = {"seq": r[0], "ref": r[2], "event": r[3], "from": r[4], "to": r[5],
                       "actor": r[6], "roles": self._json(r[7])}
                acted_as = None if r[15] is None else self._json(r[15])
                if acted_as is not None:  # a JSON null reads as absent, as the ORM reads it
                    row["acted_as"] = acted_as
                row |= {"at": self._iso(r[8]), "reason": r[9], "changes": self._json(r[10]),
                        "consulted": self._json(r[11]), "process_version": r[12]}
                if r[16] is not None:
                    row["version"] = r[16]
                yield row, r[1], r[13], r[14]

    def sealed(self, start: int = 1) -> Iterator[tuple[Any, ...]]:
        """History rows from seq ``start`` on, as verification reads them: (seq, ref, event,
        from, to, actor, roles, at, reason, changes, consulted, process_version, leaf, root,
        acted_as, version), the JSON columns as their stored text and ``at`` as its ISO 8601
        text."""
        text = "" if self.sqlite else "::text"
        sql = (f"SELECT seq, ref, event, from_state, to_state, actor, roles{text}, at, reason, "
               f"changes{text}, consulted{text}, process_version, leaf_hash, root_hash, "
               f"acted_as{text}, version FROM wf_history WHERE seq >= ? ORDER BY seq")
        iso = self._stored_iso
        with self._connection() as raw:
            for r in self._rows(raw, sql, (start,), name="sealed"):
                try:
                    at = iso(r[7])
                except (TypeError, ValueError):
                    at = str(r[7])  # not a moment at all: the row's leaf will not match
                yield (*r[:7], at, *r[8:])

    def moment_of(self, seq: int) -> tuple[int, str] | None:
        """Row ``seq`` and its time as :meth:`sealed` reads it, if the row is there."""
        with self._connection() as raw:
            found = list(self._rows(raw, "SELECT at FROM wf_history WHERE seq = ?", (seq,),
                                    name="moment"))
        if not found:
            return None
        try:
            return seq, self._stored_iso(found[0][0])
        except (TypeError, ValueError):
            return None

    def first_below(self, first: int) -> tuple[int, str] | None:
        """The lowest-numbered history row below ``first`` (seq, ref), if any."""
        with self._connection() as raw:
            rows = list(self._rows(raw, "SELECT seq, ref FROM wf_history WHERE seq < ? "
                                        "ORDER BY seq LIMIT 1", (first,), name="below"))
        return (rows[0][0], rows[0][1]) if rows else None

    def first_after(self, seq: int, condition: str, params: tuple[Any, ...] = ()
                    ) -> tuple[int, str] | None:
        """The lowest-numbered history row after ``seq`` (seq, ref) that meets ``condition``
        (SQL over the table's columns), if any."""
        with self._connection() as raw:
            rows = list(self._rows(raw, f"SELECT seq, ref FROM wf_history WHERE seq > ? AND "
                                        f"{condition} ORDER BY seq LIMIT 1", (seq, *params),
                                   name="after"))
        return (rows[0][0], rows[0][1]) if rows else None

    def leaf_hashes(self, before: int) -> Iterator[str]:
        """The stored leaf hashes of the rows numbered below ``before``, by seq."""
        with self._connection() as raw:
            for r in self._rows(raw, "SELECT leaf_hash FROM wf_history WHERE seq < ? "
                                     "ORDER BY seq", (before,), name="leaves"):
                yield r[0]

    def leaf_range(self, lo: int, hi: int) -> Iterator[bytes]:
        """The stored leaf hashes of the rows at tree positions [lo, hi) (seq lo + 1 to hi);
        ValueError at one that is not a SHA-256 in hex."""
        with self._connection() as raw:
            for r in self._rows(raw, "SELECT leaf_hash FROM wf_history WHERE seq > ? AND "
                                     "seq <= ? ORDER BY seq", (lo, hi), name="leaf_range"):
                leaf = bytes.fromhex(r[0])
                if len(leaf) != 32:
                    raise ValueError("not a SHA-256")
                yield leaf

    def history_matching(self, *, ref: str | None = None, actor: str | None = None,
                         events: tuple[str, ...] | None = None, state: str | None = None,
                         since: datetime | None = None, until: datetime | None = None,
                         max_seq: int | None = None) -> Iterator[dict[str, Any]]:
        """History rows, oldest first, filtered; ``state`` matches rows entering or leaving it,
        ``events`` rows of any of them."""
        if any("\x00" in v for v in (ref, actor, state, *(events or ())) if v is not None):
            return  # no stored value holds a NUL byte
        where: list[str] = []
        params: list[Any] = []
        if ref is not None:
            where.append("record_id = (SELECT id FROM wf_record WHERE ref = ?) AND ref = ?")
            params += [ref, ref]
        if actor is not None:
            where.append("actor = ?")
            params.append(actor)
        if events is not None:
            where.append(f"event IN ({', '.join('?' * len(events))})")
            params += events
        if state is not None:
            where.append("(to_state = ? OR from_state = ?)")
            params += [state, state]
        if max_seq is not None:
            where.append("seq <= ?")
            params.append(max_seq)
        for bound, op in ((since, ">="), (until, "<=")):
            if bound is not None:
                where.append(f"at {op} ?")
                params.append(self._moment_in(bound))
        clause = ("WHERE " + " AND ".join(where)) if where else ""
        for row, _record, _leaf, _root in self.history(clause, tuple(params)):
            yield row

    def steps(self, ref: str | None = None, until: datetime | None = None
              ) -> Iterator[list[Step]]:
        """Each record's history rows as :class:`Step`, in log order, record by record (by id),
        memory flat; with ``until``, the log as it stood then: the rows before the first one
        stamped later. Writers' clocks may disagree, so a later row can carry an earlier time;
        going by log order, what is rebuilt is always a state the log really passed through,
        however far ahead a writer's clock was."""
        where: list[str] = []
        params: list[Any] = []
        if ref is not None:
            if "\x00" in ref:
                return  # no stored reference holds one
            where.append("record_id = (SELECT id FROM wf_record WHERE ref = ?) AND ref = ?")
            params += [ref, ref]
        with self.snapshot() as snapshot, snapshot._connection() as raw:
            if until is not None:
                where.append("at <= ?")
                params.append(self._moment_in(until))
                later = snapshot._first_stamped_after(raw, until)
                if later is not None:
                    where.append("seq < ?")
                    params.append(later)
            clause = ("WHERE " + " AND ".join(where)) if where else ""
            for rows in _by_record(self._rows(
                    raw, "SELECT record_id, seq, ref, event, to_state, actor, at, changes "
                         f"FROM wf_history {clause} ORDER BY record_id, seq", tuple(params),
                    "steps")):
                yield [Step(r[0], r[1], r[2], r[3], r[4], r[5], moment_out(r[6]), r[7])
                       for r in rows]

    def _first_stamped_after(self, raw: Any, moment: datetime) -> int | None:
        """The first row, by log order, stamped after ``moment``. Looked for in the whole log,
        not only among the rows stamped within a clock's skew of it: a row stamped further
        ahead, left out while the rows written after it were taken, would rebuild a request in
        a state it never stood in."""
        found = list(self._rows(raw, "SELECT min(seq) FROM wf_history WHERE at > ?",
                                (self._moment_in(moment),), "first_after"))
        return found[0][0] if found else None

    def _moment_in(self, moment: datetime) -> Any:
        return sqlite_text(moment) if self.sqlite else as_utc(moment)

    def history_between(self, since: datetime | None, until: datetime | None, max_seq: int
                        ) -> Iterator[tuple[dict[str, Any], int, str, str]]:
        """History rows up to ``max_seq`` whose time lies in [since, until]."""
        where, params = ["seq <= ?"], [max_seq]
        for bound, op in ((since, ">="), (until, "<=")):
            if bound is not None:
                where.append(f"at {op} ?")
                params.append(self._moment_in(bound))
        return self.history("WHERE " + " AND ".join(where), tuple(params))

    def unchained_refusals(self) -> int:
        """Refusals outside the chain: only those recorded before revision 0004 by a database
        upgraded past it by an earlier version, or rows added behind the program's back."""
        with self._connection() as raw:
            return int(next(self._rows(raw, "SELECT count(*) FROM wf_refusal WHERE chain IS NULL",
                                       name="unchained"))[0])

    def triggers(self) -> list[tuple[Any, ...]]:
        """Every trigger of the database (SQLite) or of the schema's tables (PostgreSQL, the
        server's own internal ones aside), as :mod:`workflow.protections` judges them: (name,
        table, SQL) on SQLite; (name, table, enabled, function, its body, definition, its
        settings, whether it runs as its owner, its language, whether it is in the table's
        schema, the schema) on PostgreSQL."""
        from workflow.protections import PG_TRIGGERS_SQL

        sql = ("SELECT name, tbl_name, sql FROM sqlite_master WHERE type = 'trigger'"
               if self.sqlite else PG_TRIGGERS_SQL)
        with self._connection() as raw:
            return [tuple(r) for r in self._rows(raw, sql, name="triggers")]

    def rewrites(self) -> list[str]:
        """PostgreSQL's rules, row-level security policies and tables under row-level security
        in the schema, each named: any of them can hide or drop rows the program writes or
        reads. None on SQLite."""
        if self.sqlite:
            return []
        sql = ("SELECT 'rule ' || rulename || ' on ' || tablename FROM pg_rules "
               "WHERE schemaname = current_schema() UNION ALL "
               "SELECT 'row-level security policy ' || policyname || ' on ' || tablename "
               "FROM pg_policies WHERE schemaname = current_schema() UNION ALL "
               "SELECT 'row-level security on ' || c.relname FROM pg_class c "
               "JOIN pg_namespace n ON n.oid = c.relnamespace "
               "WHERE n.nspname = current_schema() AND c.relrowsecurity ORDER BY 1")
        with self._connection() as raw:
            return [r[0] for r in self._rows(raw, sql, name="rewrites")]

    def unchained_among_chained(self) -> int | None:
        """The first refusal outside the chain numbered after one in it, if any: none recorded
        before the chain existed is (they all come first)."""
        with self._connection() as raw:
            found = next(self._rows(raw, "SELECT min(seq) FROM wf_refusal WHERE chain IS NULL "
                                         "AND seq > (SELECT min(seq) FROM wf_refusal WHERE "
                                         "chain IS NOT NULL)", name="unchained_after"))[0]
        return None if found is None else int(found)

    def refusals(self) -> Iterator[tuple[int, dict[str, Any], str]]:
        """Chained refusals by sequence: (seq, the row as the chain hashes it, stored link)."""
        sql = ("SELECT seq, at, actor, ref, event, state, rule, message, chain FROM wf_refusal "
               "WHERE chain IS NOT NULL ORDER BY seq")
        with self._connection() as raw:
            for r in self._rows(raw, sql, name="refusals"):
                yield r[0], {"at": self._moment(r[1]), "actor": r[2], "ref": r[3], "event": r[4],
                             "state": r[5], "rule": r[6], "message": r[7]}, r[8]

    def chain_span(self, log: str, count: int, since: datetime | None,
                   until: datetime | None) -> tuple[int, str, int | None, int | None]:
        """Where a window of the first ``count`` links of a chained log lies: (links before its
        first row, the link before it, its first seq, its last seq). The window runs from the
        first row stamped within [``since``, ``until``] to the last so stamped, every row
        between them included (a chain is only recomputed link by link), so where writers'
        clocks disagreed it may hold rows stamped outside it, but never only such rows; an
        empty one (first and last None) lies after every link."""
        from workflow.ledger import GENESIS

        table = CHAINED[log][0]
        chained = f"FROM {table} WHERE chain IS NOT NULL"
        with self._connection() as raw:
            if count == 0:
                return 0, GENESIS, None, None
            bound = self._chain_bound(raw, chained, count)
            if bound is None:
                return 0, GENESIS, None, None  # fewer links than counted: matches nothing
            last_seq, last_link = bound
            first, last = (self._chain_end(raw, chained, which, since, until, last_seq)
                           for which in ("min", "max"))
            if first is None or last is None or first > last:
                return count, last_link, None, None
            before = next(iter(self._rows(raw, f"SELECT count(*), max(seq) {chained} AND "
                                               "seq < ?", (first,), "chain_before")))
            link = GENESIS
            if before[0]:
                link = next(iter(self._rows(raw, f"SELECT chain {chained} AND seq = ?",
                                            (before[1],), "chain_link")))[0]
            return int(before[0]), str(link), int(first), int(last)

    def _chain_bound(self, raw: Any, chained: str, count: int) -> tuple[int, str] | None:
        """The ``count``-th link's (seq, stored link), if the log holds that many."""
        found = list(self._rows(raw, f"SELECT seq, chain {chained} ORDER BY seq LIMIT 1 "
                                     "OFFSET ?", (count - 1,), "chain_bound"))
        return (int(found[0][0]), str(found[0][1])) if found else None

    def chain_link_at(self, log: str, count: int) -> str | None:
        """The stored link of the ``count``-th row of a chained log (``count`` from 1), or
        None when it holds fewer."""
        with self._connection() as raw:
            bound = self._chain_bound(raw, f"FROM {CHAINED[log][0]} WHERE chain IS NOT NULL",
                                      count)
        return None if bound is None else bound[1]

    def _chain_end(self, raw: Any, chained: str, which: str, since: datetime | None,
                   until: datetime | None, last_seq: int) -> int | None:
        """The lowest or highest seq (``which``) of a row stamped within the window."""
        where, params = f"{chained} AND seq <= ?", [last_seq]
        for op, bound in ((">=", since), ("<=", until)):
            if bound is not None:
                where += f" AND at {op} ?"
                params.append(self._moment_in(bound))
        found = list(self._rows(raw, f"SELECT {which}(seq) {where}", tuple(params),
                                "chain_end"))
        return None if not found or found[0][0] is None else int(found[0][0])

    def chain_count(self, log: str, first: int, last: int) -> int:
        """How many chained rows of ``log`` lie from seq ``first`` to ``last``."""
        sql = (f"SELECT count(*) FROM {CHAINED[log][0]} WHERE chain IS NOT NULL AND seq >= ? "
               "AND seq <= ?")
        with self._connection() as raw:
            return int(next(iter(self._rows(raw, sql, (first, last), "chain_count")))[0])

    def chain_rows(self, log: str, first: int, last: int
                   ) -> Iterator[tuple[int, dict[str, Any] | None, Any]]:
        """The chained rows of ``log`` from seq ``first`` to ``last``: (seq, the row as its
        chain hashes it, or None where its stored values make none, stored link)."""
        table, columns, shape = CHAINED[log]
        sql = (f"SELECT seq, {columns}, chain FROM {table} WHERE chain IS NOT NULL AND "
               "seq >= ? AND seq <= ? ORDER BY seq")
        with self._connection() as raw:
            for r in self._rows(raw, sql, (first, last), f"chain_{log}"):
                try:
                    row = shape(self, r[1:-1])
                except (TypeError, ValueError, AttributeError):
                    row = None
                yield r[0], row, r[-1]

    def policy(self) -> tuple[tuple[int, str] | None, list[tuple[Any, ...]],
                              list[tuple[Any, ...]]]:
        """The policy as stored: the head's (count, last link), the changes by sequence (seq,
        entry id, action, subject, kind, since, until, actor, at, reason, after_row, chain) and the
        entries by id (id, subject, kind, since, until, reason); dates and moments in ISO 8601
        where readable, as stored otherwise."""
        with self._connection() as raw:
            head = list(self._rows(raw, "SELECT policy_changes, policy_chain FROM wf_log_head "
                                        "WHERE id = 1", name="policy_head"))
            changes = [(*r[:5], self._day(r[5]), self._day(r[6]), r[7], self._moment(r[8]),
                        *r[9:]) for r in self._rows(
                raw, "SELECT seq, entry_id, action, subject, kind, since, until, actor, at, "
                     "reason, after_row, chain FROM wf_policy_change ORDER BY seq",
                name="policy_changes")]
            entries = [(*r[:3], self._day(r[3]), self._day(r[4]), r[5]) for r in self._rows(
                raw, "SELECT id, subject, kind, since, until, reason FROM wf_policy_entry "
                     "ORDER BY id", name="policy_entries")]
        return (tuple(head[0]) if head else None), changes, entries  # type: ignore[return-value]

    def ref_counters(self) -> dict[tuple[Any, Any], Any]:
        """Each reference counter's last number, by (prefix, year)."""
        with self._connection() as raw:
            return {(r[0], r[1]): r[2] for r in self._rows(
                raw, "SELECT prefix, year, last FROM wf_ref_counter", name="counters")}

    def users(self) -> tuple[tuple[int, str] | None, list[tuple[Any, ...]],
                             list[tuple[Any, ...]]]:
        """The users as stored: the head's (count, last link), the changes by sequence (seq,
        action, name, roles, active, actor, at, after_row, reason, chain) and the users by name
        (name, roles, active, created_by, created_at); roles decoded and moments in ISO 8601
        where readable, as stored otherwise."""
        with self._connection() as raw:
            head = list(self._rows(raw, "SELECT user_changes, user_chain FROM wf_log_head "
                                        "WHERE id = 1", name="user_head"))
            changes = [(r[0], r[1], r[2], self._list(r[3]), self._flag(r[4]), r[5],
                        self._moment(r[6]), r[7], r[8], r[9]) for r in self._rows(
                raw, "SELECT seq, action, name, roles, active, actor, at, after_row, reason, "
                     "chain FROM wf_user_change ORDER BY seq", name="user_changes")]
            users = [(r[0], self._list(r[1]), self._flag(r[2]), r[3], self._moment(r[4]))
                     for r in self._rows(raw, "SELECT name, roles, active, created_by, "
                                              "created_at FROM wf_user ORDER BY name",
                                         name="users")]
        return (tuple(head[0]) if head else None), changes, users  # type: ignore[return-value]

    def _list(self, value: Any) -> Any:
        """A stored list of names, decoded where it is one (as stored otherwise)."""
        try:
            decoded = self._json(value)
        except ValueError:
            return value
        return decoded if isinstance(decoded, list) else value

    @staticmethod
    def _flag(value: Any) -> Any:
        return bool(value) if value in (0, 1) else value  # SQLite keeps booleans as 0 and 1

    @staticmethod
    def _day(value: Any) -> Any:
        return value.isoformat() if isinstance(value, date) else value

    def _moment(self, value: Any) -> Any:
        """A stored moment as verification hashes it (as stored when not one)."""
        try:
            return self._stored_iso(value)
        except (TypeError, ValueError):
            return value

    def _stored_iso(self, value: Any) -> str:
        return _sqlite_iso(value) if self.sqlite else self._iso(value)

    def records_with_history(self) -> Iterator[tuple[tuple[Any, ...], list[tuple[Any, ...]]]]:
        """Each record (id, ref, state, version, data, created_by, created_at, participants,
        due_on, process) with its history (seq, to, changes, ref, event, actor, at, roles, acted_as,
        process_version, from, version), the values as stored (decoding them is the checker's,
        which can name the row a broken one belongs to; the roles as JSON text on either
        database).

        A merge of two ordered streams, so memory stays flat however large the log; history
        rows whose record is gone come with a record of (None, record id).
        """
        with self._connection() as raw:
            text = "" if self.sqlite else "::text"  # JSON as stored, a key given twice too
            records = self._rows(raw, f"SELECT id, ref, state, version, data{text}, created_by, "
                                      f"created_at, participants{text}, due_on, process "
                                      "FROM wf_record ORDER BY id", name="records")
            rows = self._rows(raw, f"SELECT record_id, seq, to_state, changes{text}, ref, event, "
                                   f"actor, at, roles{text}, acted_as{text}, process_version, "
                                   "from_state, version FROM wf_history "
                                   "ORDER BY record_id, seq", name="rows")
            pending = next(rows, None)
            for record in records:
                mine: list[tuple[Any, ...]] = []
                # a record id that is no number (SQLite keeps anything) sorts after them all
                while pending is not None and _number(pending[0]) and pending[0] < record[0]:
                    yield (None, pending[0]), [pending[1:]]
                    pending = next(rows, None)
                while pending is not None and pending[0] == record[0]:
                    mine.append(pending[1:])
                    pending = next(rows, None)
                yield tuple(record), mine
            while pending is not None:
                yield (None, pending[0]), [pending[1:]]
                pending = next(rows, None)


    def histories(self, last: int) -> Iterator[list[tuple[Any, ...]]]:
        """Each request's history rows up to row ``last``, request by request: (seq, ref,
        event, from, actor, roles, at, reason, changes, consulted, process_version), the JSON
        columns as their stored text and ``at`` as stored."""
        text = "" if self.sqlite else "::text"
        sql = (f"SELECT record_id, seq, ref, event, from_state, actor, roles{text}, at, reason, "
               f"changes{text}, consulted{text}, process_version FROM wf_history "
               "WHERE seq <= ? ORDER BY record_id, seq")
        with self._connection() as raw:
            for rows in _by_record(self._rows(raw, sql, (last,), name="histories")):
                yield [r[1:] for r in rows]


def _by_record(rows: Iterator[tuple[Any, ...]]) -> Iterator[list[tuple[Any, ...]]]:
    """Rows ordered by record id (their first value), a record's at a time."""
    mine: list[tuple[Any, ...]] = []
    for row in rows:
        if mine and row[0] != mine[0][0]:
            yield mine
            mine = []
        mine.append(row)
    if mine:
        yield mine


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _refusal(scan: Scanner, r: tuple[Any, ...]) -> dict[str, Any]:
    from workflow.ledger import refusal_row

    return refusal_row(scan._moment(r[0]), *r[1:])


def _policy_change(scan: Scanner, r: tuple[Any, ...]) -> dict[str, Any]:
    from workflow.ledger import policy_change_row

    return policy_change_row(*r[:4], scan._day(r[4]), scan._day(r[5]), r[6], scan._moment(r[7]),
                             *r[8:])


def _user_change(scan: Scanner, r: tuple[Any, ...]) -> dict[str, Any]:
    from workflow.ledger import user_change_row

    return user_change_row(r[0], r[1], scan._list(r[2]), scan._flag(r[3]), r[4],
                           scan._moment(r[5]), r[6], r[7])


# each chained log: its table, the columns its chain hashes (in the order the ledger's row
# function takes them) and how a stored row becomes the row hashed
CHAINED: dict[str, tuple[str, str, Any]] = {
    "refusals": ("wf_refusal", "at, actor, ref, event, state, rule, message", _refusal),
    "policy": ("wf_policy_change", "entry_id, action, subject, kind, since, until, actor, at, "
                                   "reason, after_row", _policy_change),
    "users": ("wf_user_change", "action, name, roles, active, actor, at, after_row, reason",
              _user_change),
}
