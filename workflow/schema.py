"""The schema's revision: created and evolved only by the Alembic migrations in the package.

Every command checks the revision first: an older database must be upgraded, a newer one (written
by a later version of this program) is refused untouched.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError

from workflow.errors import NotInitialised, WorkflowError

MIGRATIONS = Path(__file__).with_name("migrations")


class SchemaMismatch(WorkflowError):
    """The database's schema revision is not the one this program runs."""


def _config(connection: Connection) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def _scripts() -> Any:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(config)


def known_revisions() -> list[str]:
    return [s.revision for s in _scripts().walk_revisions()]


def current(engine: Engine) -> str | None:
    """The database's revision, or None when it has no schema yet."""
    try:
        with engine.connect() as conn:
            found = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    except DBAPIError as error:
        message = str(error.orig).lower()
        if "alembic_version" in message and ("no such table" in message
                                             or "does not exist" in message):
            return None
        raise
    if len(found) > 1:  # the program keeps one: a schema of two revisions is no schema it knows
        raise SchemaMismatch(f"the database records {len(found)} schema revisions "
                             f"({', '.join(map(str, sorted(found)))}), not one; refusing to "
                             "touch it")
    return found[0] if found else None


def upgrade(engine: Engine, target: str = "head") -> str | None:
    """Migrate in one transaction, one process at a time: a second process (two `init`s at
    once on a new database) waits, then finds the revision the first left and has nothing to
    do. SQLite: ``engine`` begins with BEGIN IMMEDIATE (the database's write engine);
    PostgreSQL: an advisory lock held to the transaction's end. Returns the revision found
    once the lock is held: the one migrated from."""
    from alembic import command
    from alembic.runtime.migration import MigrationContext

    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('workflow schema'))"))
        found = MigrationContext.configure(conn).get_current_revision()
        if found is not None and found not in known_revisions():  # a newer program's, since
            raise SchemaMismatch(f"the database schema is at revision {found}, unknown to this "
                                 "program (upgraded meanwhile by a newer one); nothing was "
                                 "changed")
        command.upgrade(_config(conn), target)
    return found


def stamp(engine: Engine, target: str = "head") -> None:
    from alembic import command

    with engine.begin() as conn:
        command.stamp(_config(conn), target)


def downgrade(engine: Engine, target: str) -> None:
    from alembic import command

    with engine.begin() as conn:
        command.downgrade(_config(conn), target)


def check(engine: Engine) -> None:
    """Refuse to run against a database whose revision is not this program's."""
    revision = current(engine)
    if revision == HEAD:
        return
    if revision is None:
        raise NotInitialised("the database is not initialised; run `workflow init`")
    if revision in known_revisions():
        raise SchemaMismatch(f"the database schema is at revision {revision}, older than this "
                             f"program's {HEAD}; run `workflow db upgrade`")
    raise SchemaMismatch(f"the database schema is at revision {revision}, unknown to this "
                         "program (written by a newer version?); refusing to touch it")


HEAD = "0015"
