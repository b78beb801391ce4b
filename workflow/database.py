"""Opening a database: SQLite by path (WAL, busy timeout) or any SQLAlchemy URL (psycopg 3).

Sessions are opened here only; database errors become one-line :mod:`workflow.errors`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, inspect
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, IntegrityError

from workflow import interrupts, scan, schema, writer
from workflow.errors import (
    Busy,
    InvalidInput,
    NotInitialised,
    Refused,
    Unreadable,
    WorkflowError,
    stored_json,
)
from workflow.values import quoted

SQLITE_PAGE_SIZE = 2048
BUSY_TIMEOUT_MS = 30_000


def shown(target: str) -> str:
    """A ``--db`` target as messages name it: a URL without its password."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    if "://" not in target:
        return target
    try:
        return make_url(target).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return target.split("://", 1)[0] + "://…"  # unreadable: its scheme only


URL_SCHEMES = ("sqlite", "sqlite+pysqlite", "postgresql+psycopg")  # the drivers it writes through


def database_url(target: str) -> str:
    """A URL stays a URL (``postgresql://`` meaning psycopg 3); anything else is a SQLite path."""
    if "\x00" in target or ("://" in target and "%00" in target):
        raise InvalidInput("--db: the database address holds a NUL character, which would cut "
                           "it short")
    if "://" in target:
        for plain in ("postgresql://", "postgres://"):
            if target.startswith(plain):
                return "postgresql+psycopg://" + target[len(plain):]
        scheme = target.split("://", 1)[0]
        if scheme not in URL_SCHEMES:
            raise InvalidInput(f"--db: {quoted(scheme + '://')} is not a database this program "
                               "works with: give a SQLite file (or sqlite:///PATH) or a "
                               "postgresql:// URL")
        return target
    if not target.strip():
        raise InvalidInput("--db: empty database path")
    if target.strip() == ":memory:":
        raise InvalidInput("--db: ':memory:' would keep nothing once the program ends; name a "
                           "file (from Python, 'sqlite://' is a database in memory)")
    path = Path(target).expanduser()
    if not path.parent.is_dir():
        raise InvalidInput(f"--db: directory {path.parent} does not exist")
    if path.is_dir():
        raise InvalidInput(f"--db: {path} is a directory, not a database file")
    escaped = str(path.resolve()).replace("%", "%25").replace("?", "%3F").replace("#", "%23")
    return f"sqlite:///{escaped}"  # a file name is never read as a query or an escape


def sqlite_file(url: str) -> Path | None:
    """The file a SQLite URL names, whichever driver it names (None for another database or
    an in-memory one)."""
    if not url.startswith("sqlite"):
        return None
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        return None  # not a URL that can be read: opening it will say so
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def in_memory(url: str) -> bool:
    """A SQLite URL naming no file: a database that ends with the program that opened it."""
    if not url.startswith("sqlite"):
        return False
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        return False
    return parsed.get_backend_name() == "sqlite" and sqlite_file(url) is None


def _configure_sqlite(engine: Engine) -> None:
    """A busy timeout; BEGIN IMMEDIATE for writes so they queue instead of deadlocking.

    WAL is switched on once, when the schema is created (the mode is kept in the file), so that
    opening a file which is not a workflow database leaves it exactly as it was.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        try:  # a damaged file fails here, before any -wal is made
            cursor.execute("PRAGMA journal_mode")
        except UnicodeDecodeError:  # the damage reached SQLite's very error message
            import sqlite3

            raise sqlite3.DatabaseError("database disk image is malformed") from None
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        writing = conn.get_execution_options().get("wf_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if writing else "BEGIN")


# The session settings the program is written for, whatever the server, the database, the role
# or PGOPTIONS default to: each transaction sees what was committed before each of its
# statements (the log head's lock orders writers; a stricter level would fail them instead),
# times in ISO 8601 (the only style psycopg reads), and, unless the server or the login bounds
# it already, a wait for a lock bounded as SQLite's busy timeout bounds it (then the write is
# tried again, and at last refused as busy, instead of waiting for good behind a session left
# open). Set once per connection, in one round trip.
POSTGRES_SESSION = ("SELECT set_config('default_transaction_isolation', 'read committed', false), "
                    "set_config('DateStyle', 'ISO', false), "
                    "set_config('lock_timeout', CASE current_setting('lock_timeout') WHEN '0' "
                    f"THEN '{BUSY_TIMEOUT_MS}' ELSE current_setting('lock_timeout') END, false)")


def _configure_postgres(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _settings(dbapi_connection: Any, _record: Any) -> None:
        autocommit = dbapi_connection.autocommit
        dbapi_connection.autocommit = True  # kept, whatever becomes of the first transaction
        try:
            dbapi_connection.execute(POSTGRES_SESSION)
        finally:
            dbapi_connection.autocommit = autocommit


def _database_error(error: DBAPIError) -> WorkflowError:
    return driver_error(error.orig if error.orig is not None else error)


def driver_error(error: BaseException) -> WorkflowError:
    """One line a person can act on, for each way a database commonly fails."""
    lines = str(error).strip().splitlines()
    text = lines[0] if lines else type(error).__name__
    lowered = text.lower()
    if "no such table" in lowered or ("relation" in lowered and "does not exist" in lowered):
        table = _named_table(text)
        if table is None or not table.startswith("wf_"):
            return NotInitialised("the database is not initialised; run `workflow init`")
        return NotInitialised(f"the database has no table {table}: it is not initialised (run "
                              "`workflow init`), or the table was dropped behind the program")
    if "no such column" in lowered or ("column" in lowered and "does not exist" in lowered):
        return WorkflowError(f"the database's tables are not as this program's schema makes "
                             f"them ({text}): altered behind the program, or another program's")
    if any(said in lowered for said in ("timestamp too", "date too", "timestamp out of range",
                                        "date out of range")):  # infinity, a year BC...
        return Unreadable(f"a date or time stored in the database is out of range ({text}): it "
                          "was changed behind the program")
    if "not a database" in lowered or "malformed" in lowered:
        return WorkflowError(f"the database file is corrupt or not a SQLite database ({text})")
    if "readonly" in lowered or "read-only" in lowered:
        return WorkflowError(f"the database is read-only here ({text}); check the permissions "
                             "of the file and of its directory (SQLite keeps its -wal and -shm "
                             "files beside it), or read a copy in a directory you may write to")
    if "unable to open" in lowered:
        return WorkflowError(f"cannot open the database file ({text})")
    if any(word in lowered for word in ("locked", "busy", "deadlock", "lock timeout",
                                         "could not serialize")):
        return Busy("the database is busy (locked by another connection); try again")
    if "permission denied" in lowered:
        hint = ""
        if "alembic_version" in lowered:  # what every command reads first: no role at all
            hint = ("; it holds no workflow role here: its user may be disabled, or registered "
                    "since an admin last ran `workflow db grant`")
        return Refused("access", "database-permission",
                       f"the database login may not do this ({text}){hint}")
    if "wf_record.ref" in lowered or "wf_record_ref_key" in lowered:  # SQLite, PostgreSQL
        return WorkflowError("the reference a new request would get is taken already: the "
                             "reference counter stands behind the requests (altered?); "
                             "`workflow audit verify` says more")
    if "connection" in lowered and ("failed" in lowered or "refused" in lowered):
        return WorkflowError(f"cannot connect to the database: {text}")
    return WorkflowError(f"database error: {text}")


def _named_table(text: str) -> str | None:
    """The table an error says is missing: ``no such table: wf_x`` (SQLite), ``relation
    "wf_x" does not exist`` (PostgreSQL)."""
    if "no such table:" in text:
        return text.split("no such table:", 1)[1].strip().split()[0] or None
    quoted = text.split('"')
    return quoted[1] if len(quoted) > 2 else None


class Database:
    """One engine per target; sessions for reading and for writing."""

    def __init__(self, target: str, *, create: bool = False) -> None:
        self.url = database_url(target)
        self.path = sqlite_file(self.url)
        if self.path is not None and not self.path.parent.is_dir():  # a sqlite:/// URL's
            raise InvalidInput(f"--db: directory {self.path.parent} does not exist")
        if self.path is not None and not create and not self.path.exists():
            raise NotInitialised(f"no workflow database at {self.path}; run `workflow init`")
        self.is_sqlite = self.url.startswith("sqlite")
        try:
            if self.is_sqlite:
                self.engine = create_engine(
                    self.url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000},
                    json_deserializer=stored_json)
                _configure_sqlite(self.engine)
            else:
                # psycopg's own automatic preparing would answer a rollback with DEALLOCATE ALL,
                # taking the fast path's prepared statements with it (workflow.prepared)
                self.engine = create_engine(self.url, pool_pre_ping=False,
                                            connect_args={"prepare_threshold": None},
                                            json_deserializer=stored_json)
                _configure_postgres(self.engine)
        except Exception as error:  # any URL the dialects reject is bad input
            raise InvalidInput(f"--db: cannot use {shown(target)!r}: "
                               f"{str(error).replace(target, shown(target))}") from None
        self._writer = self.engine.execution_options(wf_write=True)
        self.fast = writer.Writer(self.engine, self.is_sqlite, driver_error)
        self.scan = scan.Scanner(self.engine, self.is_sqlite, driver_error)

    @contextmanager
    def _session(self, bind: Any) -> Iterator[Any]:
        """An ORM session (SQLModel is imported only by the commands that need it)."""
        from sqlmodel import Session

        writes = bind is self._writer
        if writes:
            interrupts.beginning()
        session = Session(bind, expire_on_commit=False, autoflush=False)
        try:
            yield session
            changes = writes and bool(session.new or session.dirty or session.deleted)
            with interrupts.committing() if changes else nullcontext():
                session.commit()
        except IntegrityError:
            session.rollback()
            raise
        except DBAPIError as error:
            session.rollback()
            raise _database_error(error) from None
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def read(self) -> Any:
        return self._session(self.engine)

    def write(self) -> Any:
        return self._session(self._writer)

    def is_initialised(self) -> bool:
        return self.has_table("wf_user")

    def has_table(self, name: str) -> bool:
        try:
            return inspect(self.engine).has_table(name)
        except DBAPIError as error:
            raise _database_error(error) from None

    def revision(self) -> str | None:
        try:
            found = schema.current(self.engine)
        except DBAPIError as error:
            raise _database_error(error) from None
        if found is None:
            self._refuse_unreachable()
        return found

    def _refuse_unreachable(self) -> None:
        """PostgreSQL: a login that may not use the schema its search path names finds no table
        there (a disabled user's login, or one registered since the roles were granted); say
        so, rather than call the database uninitialised."""
        if self.is_sqlite:
            return
        try:
            with self.engine.connect() as conn:
                unset, path = conn.exec_driver_sql(
                    "SELECT current_schema() IS NULL, current_setting('search_path')").one()
                named = [n.strip().strip('"') for n in path.split(",")]
                found = [n for n in named if n and n != "$user" and conn.exec_driver_sql(
                    "SELECT 1 FROM pg_namespace WHERE nspname = %(n)s", {"n": n}).first()]
        except DBAPIError as error:
            raise _database_error(error) from None
        if unset and found:
            raise Refused("access", "database-permission",
                          f"this database login may not use schema {found[0]}, where its "
                          "search path looks for the workflow's tables: the login of no active "
                          "user, or of one registered since the database roles were last "
                          "granted (an admin runs `workflow db grant` again)")

    def upgrade(self) -> str | None:
        """Migrate an initialised database to head; a newer or uninitialised one is refused.
        Returns the revision it was at when the migration began (another process upgrading at
        the same time may have moved it since it was first read)."""
        revision = self.revision()
        if revision is None:
            raise NotInitialised("the database is not initialised; run `workflow init`")
        if revision not in schema.known_revisions():
            self.check_schema()
        try:
            return schema.upgrade(self._writer)
        except DBAPIError as error:
            raise _database_error(error) from None

    def check_schema(self) -> None:
        """Refuse a database whose schema revision is not this program's."""
        try:
            schema.check(self.engine)
        except DBAPIError as error:
            raise _database_error(error) from None
        except NotInitialised:
            self._refuse_unreachable()
            raise

    def create_schema(self, *, direct: bool = False) -> None:
        """Bring the schema to the head revision through the migrations.

        ``direct`` creates it from the models in one go and stamps it (for test databases; the
        migration tests prove both ways give the same schema).
        """
        try:
            revision = schema.current(self.engine)
            if revision is not None:
                schema.check(self.engine)
                return
            self._refuse_unreachable()  # PostgreSQL: tables there, but not for this login
            if self.is_sqlite:
                self._refuse_foreign_file()
                proxy = self.engine.raw_connection()
                try:
                    # half-size pages: each commit writes a handful of pages (the record, the
                    # history row, their indexes, the log head), so half the bytes to flush;
                    # history rows still pack three or four to a page
                    proxy.driver_connection.execute(f"PRAGMA page_size = {SQLITE_PAGE_SIZE}")
                    proxy.driver_connection.execute("PRAGMA journal_mode = WAL")
                finally:
                    proxy.close()
            if direct:
                from sqlalchemy import insert
                from sqlmodel import SQLModel

                from workflow import append_only, models

                SQLModel.metadata.create_all(self.engine)
                with self.engine.begin() as conn:
                    append_only.install(conn)
                    conn.execute(insert(models.LogHead).values(
                        id=1, size=0, frontier=[], refusals=0, refusal_chain=models.GENESIS))
                schema.stamp(self.engine)
            else:
                schema.upgrade(self._writer)
        except DBAPIError as error:
            raise _database_error(error) from None
        except self.engine.dialect.dbapi.Error as error:  # on the driver connection
            raise driver_error(error) from None

    def _refuse_foreign_file(self) -> None:
        """A SQLite file holding another program's tables is not made a workflow database."""
        tables = [t for t in inspect(self.engine).get_table_names()
                  if not t.startswith("wf_") and t != "alembic_version"]
        if tables:
            raise InvalidInput(f"--db: {self.path} already holds tables of another program "
                               f"({', '.join(sorted(tables)[:5])}); choose another file")

    def dispose(self) -> None:
        self.fast.close()
        self.engine.dispose()
