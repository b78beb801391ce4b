"""Triggers that make the audit tables append-only, whatever program connects to the database."""

from __future__ import annotations

from sqlalchemy.engine import Connection

TABLES = ("wf_history", "wf_refusal", "wf_policy_change", "wf_user_change")

# Percent signs are doubled: the driver formats the statement.
_PG_FUNCTION = """
CREATE OR REPLACE FUNCTION wf_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '%% is append-only: %% refused', TG_TABLE_NAME, TG_OP;
END
$$
"""


def statements(dialect: str) -> list[str]:
    if dialect == "sqlite":
        return [
            f"CREATE TRIGGER IF NOT EXISTS {table}_no_{op.lower()} BEFORE {op} ON {table} "
            f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: {op} refused'); END"
            for table in TABLES
            for op in ("UPDATE", "DELETE")
        ]
    if dialect == "postgresql":
        return [_PG_FUNCTION] + [
            f"CREATE OR REPLACE TRIGGER {table}_append_only "
            f"BEFORE UPDATE OR DELETE OR TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION wf_append_only()"
            for table in TABLES
        ]
    return []


def trigger_names(dialect: str) -> list[str]:
    """The names of the triggers :func:`statements` makes."""
    if dialect == "sqlite":
        return [f"{table}_no_{op}" for table in TABLES for op in ("update", "delete")]
    return [f"{table}_append_only" for table in TABLES]


def install(conn: Connection) -> None:
    for statement in statements(conn.dialect.name):
        conn.exec_driver_sql(statement)
