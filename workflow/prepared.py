"""PostgreSQL: the fast path's fixed statements, prepared once per connection.

Several statements go to the server as one query, in one round trip, which only the simple
query protocol allows, and that protocol parses and plans every statement every time. SQL's own
``PREPARE`` and ``EXECUTE`` keep that single round trip and plan each statement once per
connection: the first query that needs a statement carries its ``PREPARE`` ahead of its use.

A prepared statement outlives a rolled-back transaction, and a query that fails part way may or
may not have run its ``PREPARE``s; after such a failure the connection's later statements take
new names, so no name is ever prepared twice or used unprepared. Statements live as long as the
server session: a connection pooler in front of PostgreSQL must keep each client on one session
(PgBouncer's session mode), as it must for any session state.
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


class Prepared:
    """The statements one connection has prepared, by their text."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}
        self.generation = 0  # raised after a failed query that prepared: fresh names

    def query(self, statements: Sequence[tuple[str, tuple[Any, ...]]]) -> tuple[str, int]:
        """The statements as one query for a client-binding cursor (``%s`` placeholders), with
        the ``PREPARE``s they need first; and how many results those ``PREPARE``s add."""
        preparing: list[str] = []
        texts: list[str] = []
        short = len(statements) <= SHORT
        for sql, values in statements:
            name = self.names.get(sql) if short and sql not in UNPREPARED else None
            if name is None and short and sql not in UNPREPARED and len(self.names) < LIMIT:
                name = self.names[sql] = f"wf_{self.generation}_{len(self.names)}"
                preparing.append(f"PREPARE {name} AS {numbered(sql)}")
            if name is None:
                texts.append(sql.replace("?", "%s"))
            else:
                marks = ", ".join(["%s"] * len(values))
                texts.append(f"EXECUTE {name}({marks})" if values else f"EXECUTE {name}")
        return "; ".join([*preparing, *texts]), len(preparing)

    def failed(self, prepared: int, error: BaseException) -> None:
        """A query failed. If it prepared, which of its statements the server kept is unknown;
        if the server had lost some (``DEALLOCATE`` or ``DISCARD`` sent by someone else), the
        next query prepares every statement again."""
        from psycopg.errors import InvalidSqlStatementName

        if prepared or isinstance(error, InvalidSqlStatementName):
            self.names.clear()
            self.generation += 1


_by_connection: weakref.WeakKeyDictionary[Any, Prepared] = weakref.WeakKeyDictionary()


def on(connection: Any) -> Prepared:
    """The prepared statements of a driver connection (none for a new one)."""
    known = _by_connection.get(connection)
    if known is None:
        known = _by_connection[connection] = Prepared()
    return known
