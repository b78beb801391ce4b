"""The one entry point: :class:`Workflow` binds a process to a database, a clock and actors.

Its methods come in four parts: writing (create, edit, fire), reading (get, list, due,
history), administering (init, users, policy, database roles) and auditing (verify, proofs,
exports, inquiries). Each part imports only what it needs, so a command starts fast.
"""

from __future__ import annotations

from typing import Any

from workflow import schema
from workflow.admin import Administering
from workflow.auditing import Auditing
from workflow.clock import Clock, system_clock
from workflow.database import Database
from workflow.grants import AUTH_BY_LOGIN, AUTH_KEY
from workflow.machine import machinery_for
from workflow.process import Process
from workflow.reads import Reading
from workflow.writes import Writing


def _default_process() -> Process:
    from states import PROCESS

    return PROCESS


class Workflow(Writing, Reading, Administering, Auditing):
    """Create, edit, fire and read records of one process, on one database.

    ``target`` is a SQLite path or a SQLAlchemy URL; ``clock`` returns the current moment (UTC),
    so that "today" is the clock's, never the database server's.
    """

    def __init__(self, target: str, *, process: Process | None = None, clock: Clock | None = None,
                 create: bool = False) -> None:
        self.process = process or _default_process()
        self.clock = clock or system_clock
        self.db = Database(target, create=create)
        try:
            if not create:
                self.db.check_schema()
            self.login = self._database_login(checked=not create)
        except BaseException:
            self.db.dispose()  # no connection kept open (nor a SQLite -wal left) by a refusal
            raise
        self.machinery = machinery_for(self.process)

    def _database_login(self, *, checked: bool = True) -> str | None:
        """The login every actor must be, where the database authenticates by login (PostgreSQL
        after ``db grant``); read however the database was opened, even to be created, so no
        way of opening it skips the check. ``checked``: the schema is known to be there."""
        if self.db.is_sqlite or not (checked or self.db.has_table("wf_setting")):
            return None
        with self.db.fast.reading() as tx:
            return tx.session_user() if tx.setting(AUTH_KEY) == AUTH_BY_LOGIN else None

    @staticmethod
    def schema_revision(target: str) -> dict[str, Any]:
        """The database's schema revision and this program's, without checking them."""
        db = Database(target)
        try:
            return {"current": db.revision(), "head": schema.HEAD}
        finally:
            db.dispose()

    @staticmethod
    def upgrade(target: str) -> dict[str, Any]:
        """Migrate an existing database to this program's schema revision."""
        db = Database(target)
        try:
            return {"from": db.upgrade(), "to": schema.HEAD}
        finally:
            db.dispose()

    def holds_records(self) -> bool:
        """Whether the database already holds records (False for an uninitialised one)."""
        if not self.db.is_initialised():
            return False
        with self.db.fast.reading() as tx:
            return bool(tx.run("SELECT 1 FROM wf_record LIMIT 1").fetchone())

    def close(self) -> None:
        self.db.dispose()

    def __enter__(self) -> Workflow:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
