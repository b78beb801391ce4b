"""PostgreSQL: the fast path's fixed statements, prepared once per connection.

Several statements go to the server as one query, in one round trip, which only the simple
query protocol allows, and that protocol parses and plans every statement every time. SQL's own
``PREPARE`` and ``EXECUTE`` keep that single round trip and plan each statement once per
connection: the first query that needs a statement carries its ``PREPARE`` ahead of its use.

The fast path owns every prepared statement of its connections (psycopg's own preparing is
switched off on them, see :mod:`workflow.database`). A prepared statement outlives a
rolled-back transaction, and a query that fails part way may or may not have run its
``PREPARE``s; so after any failed query the next one starts with ``DEALLOCATE ALL`` and
prepares what it needs afresh: no name is used unprepared or prepared twice, and a session never
holds more than :data:`LIMIT` of them. Statements live as long as the server session: a
connection pooler in front of PostgreSQL must keep each client on one session (PgBouncer's
session mode), as it must for any session state.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from typing import Any

LIMIT = 64  # statements kept per connection; rarer shapes beyond it are sent as they are
# Only the statements of a short query are prepared. A batch's query repeats a few shapes of
# cheap single-row writes thousands of times, where evaluating each EXECUTE's arguments costs
# the server more than planning the statement would (twice the time, measured).
SHORT = 16
UNPREPARED = frozenset({"BEGIN", "COMMIT"})


def numbered(sql: str) -> str:
    """``?`` placeholders as PostgreSQL's ``$1``, ``$2``, ... (the fast path's SQL holds no
    ``?`` elsewhere)."""
    parts = sql.split("?")
    return parts[0] + "".join(f"${n}{part}" for n, part in enumerate(parts[1:], 1))


def lost(error: BaseException) -> bool:
    """The server no longer runs a prepared statement as prepared: someone else deallocated
    it, or a column it returns changed type since ("cached plan must not change result type",
    told by where the server raised it: the message itself may be translated)."""
    from psycopg import errors

    return isinstance(error, errors.InvalidSqlStatementName) or (
        isinstance(error, errors.FeatureNotSupported)
        and error.diag.source_function == "RevalidateCachedQuery")


class Prepared:
    """The statements one connection has prepared, by their text."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}
        self.stale = False  # a query failed: what the server holds is not known

    def query(self, statements: Sequence[tuple[str, tuple[Any, ...]]]) -> tuple[str, int]:
        """The statements as one query for a client-binding cursor (``%s`` placeholders), with
        the ``PREPARE``s they need first; and how many results come before the statements'
        own. Call :meth:`failed` if the query is not answered in full."""
        leading = ["DEALLOCATE ALL"] if self.stale else []
        if self.stale:
            self.names.clear()
            self.stale = False
        texts: list[str] = []
        short = len(statements) <= SHORT
        for sql, values in statements:
            name = None
            if short and sql not in UNPREPARED:
                name = self.names.get(sql)
                if name is None and len(self.names) < LIMIT:
                    name = self.names[sql] = f"wf_{len(self.names)}"
                    leading.append(f"PREPARE {name} AS {numbered(sql)}")
            if name is None:
                texts.append(sql.replace("?", "%s"))
            else:
                marks = ", ".join(["%s"] * len(values))
                texts.append(f"EXECUTE {name}({marks})" if values else f"EXECUTE {name}")
        return "; ".join([*leading, *texts]), len(leading)

    def failed(self) -> None:
        """A query built by :meth:`query` failed or was interrupted, before or after it reached
        the server: the next one clears the server's statements and prepares afresh."""
        self.stale = True


_by_connection: weakref.WeakKeyDictionary[Any, Prepared] = weakref.WeakKeyDictionary()


def on(connection: Any) -> Prepared:
    """The prepared statements of a driver connection (none for a new one)."""
    known = _by_connection.get(connection)
    if known is None:
        known = _by_connection[connection] = Prepared()
    return known
