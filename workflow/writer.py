"""Write transactions handed out on the driver connections underneath the engine.

One connection is held for a writer's life, so a firing does not go through the pool; on
SQLite what its last transaction read is reused while no other connection has committed.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any, NamedTuple

from workflow import interrupts, merkle
from workflow.fastpath import Tx, UserRow
from workflow.process import Restriction


class Seen(NamedTuple):
    """What a committed write transaction read, valid while no other connection has written
    since: SQLite's ``data_version`` tells (it changes only for other connections' commits)."""

    data_version: int
    head: merkle.Frontier | None  # the transaction's own, which is over: copied for the next
    users: dict[str, UserRow | None]
    policy: list[Restriction] | None

    @classmethod
    def of(cls, tx: Tx, data_version: int) -> Seen:
        return cls(data_version, tx.frontier, tx._users, tx._policy)  # the transaction is over

    def prime(self, tx: Tx) -> None:
        if self.head is not None:
            tx.frontier = self.head.copy()
        tx._users.update(self.users)
        tx._policy = self.policy


class Writer:
    """Hands out write transactions on the driver connections underneath the engine.

    One connection is held for the writer's life (taken from the pool once, not per
    transaction); a second thread, or a transaction opened inside another, takes one from the
    pool. On SQLite what the held connection's last transaction read (log head, users, policy)
    is reused while ``PRAGMA data_version`` shows no other connection has committed since.
    """

    def __init__(self, engine: Any, sqlite: bool, describe: Any) -> None:
        from sqlalchemy.pool import QueuePool

        self.engine = engine
        self.sqlite = sqlite
        self.describe = describe
        # only a pool of separate connections: an in-memory SQLite database has one connection
        # per thread, which the ORM's writes share, so data_version would not see them
        self._holds = isinstance(engine.pool, QueuePool)
        self._held: Any = None  # the pool's proxy of the held connection
        self._held_by = 0  # the thread that may use it
        self._held_free = threading.Lock()
        self._seen: Seen | None = None

    def close(self) -> None:
        """Give the held connection back to the pool (before the engine is disposed)."""
        with self._held_free:
            self._drop_held()

    def _drop_held(self) -> None:
        held, self._held, self._seen = self._held, None, None
        if held is not None:
            _give_back(held)

    def _take(self) -> tuple[Any, Any]:
        """A driver connection, and the pool's proxy to give back by :meth:`_release` (None:
        the held one, whose lock is then taken)."""
        if self._holds and self._held_free.acquire(blocking=False):
            try:
                me = threading.get_ident()
                if self._held is None:
                    self._held, self._held_by = self.engine.raw_connection(), me
                if self._held_by == me:
                    return self._held.driver_connection, None
            except BaseException:
                self._held_free.release()
                raise
            self._held_free.release()
        proxy = self.engine.raw_connection()
        return proxy.driver_connection, proxy

    def _release(self, proxy: Any) -> None:
        if proxy is None:
            self._held_free.release()
        else:
            _give_back(proxy)

    @contextmanager
    def reading(self) -> Iterator[Tx]:
        """A read-only transaction: one consistent snapshot, rolled back afterwards."""
        proxy = self.engine.raw_connection()
        raw = proxy.driver_connection
        errors = self.engine.dialect.dbapi.Error
        try:  # on PostgreSQL, the snapshot of the first statement for all (a list read in
            # chunks sees one state of the database, as on SQLite)
            raw.execute("BEGIN" if self.sqlite else
                        "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            yield Tx(raw, self.sqlite)
        except errors as error:
            raise self.describe(error) from None
        finally:
            with suppress(errors):
                raw.rollback()
            _give_back(proxy)

    @contextmanager
    def transaction(self) -> Iterator[Tx]:
        errors = self.engine.dialect.dbapi.Error
        interrupts.beginning()
        raw, proxy = self._take()
        held = proxy is None
        try:
            version = None
            try:  # whatever interrupts, from BEGIN on, leaves no transaction open
                if not self.sqlite:
                    raw.autocommit = True  # the Tx sends BEGIN and COMMIT itself
                tx = Tx(raw, self.sqlite, opens=not self.sqlite)
                if self.sqlite:
                    cursor = tx.cursor
                    cursor.execute("BEGIN IMMEDIATE")
                    if held:
                        version = cursor.execute("PRAGMA data_version").fetchone()[0]
                        seen = self._seen
                        if seen is not None and seen.data_version == version:
                            seen.prime(tx)
                yield tx
                tx.finish()
            except BaseException:
                raw.rollback()
                raise
            self._seen = None  # until the commit is known to have happened
            if tx.wrote:
                with interrupts.committing():
                    raw.commit()
            else:
                raw.commit()  # nothing to send when the Tx committed in its last round trip
            if version is not None:
                self._seen = Seen.of(tx, version)
            self._as_found(raw)
        except errors as error:
            with suppress(errors):
                raw.rollback()
            self._as_found(raw)
            if held:
                self._drop_held()  # back to the pool: not to be touched after this
            raise self.describe(error) from None
        except BaseException:
            self._as_found(raw)
            raise
        finally:
            self._release(proxy)

    def _as_found(self, raw: Any) -> None:
        """PostgreSQL: the connection back out of autocommit before the pool or the ORM may see
        it (if that fails the connection is broken, and the pool discards it)."""
        if not self.sqlite and raw.autocommit:
            with suppress(self.engine.dialect.dbapi.Error):
                raw.autocommit = False


def _give_back(proxy: Any) -> None:
    """A connection back to the pool, or, when the server ended it, discarded: the pool's
    reset would fail on it and log a traceback where the caller reports one line."""
    if getattr(proxy.driver_connection, "broken", False):
        proxy.invalidate()
        return
    with suppress(Exception):
        proxy.close()
