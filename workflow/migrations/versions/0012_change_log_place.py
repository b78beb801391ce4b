"""user and policy changes keep their place in the history's order

Revision ID: 0012
Revises: 0011

From this revision on a change to the users or to the policy keeps how many history rows were
written before it (``after_row``), chained with the rest of the change. Every writer takes the
log head first, so the number places the change exactly between two history rows: verification
can then hold each row to the users and the policy as they stood when it was written. Changes
already made keep their bytes and their links: they have no ``after_row`` at all.

A user change also keeps the admin's reason, if given (``reason``, chained with the rest).
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

TABLES = ("wf_user_change", "wf_policy_change")

# migrations stay as they were written: these are the triggers of this revision, not the live
# ones. Where the database authenticates by login, what a login writes keeps the log whole.
LOG_KEPT = """
CREATE OR REPLACE FUNCTION wf_kept_in_the_log() RETURNS trigger LANGUAGE plpgsql
SET search_path = {schema}, pg_temp AS $$
BEGIN
    IF TG_TABLE_NAME = 'wf_record' THEN
        IF (TG_OP = 'UPDATE' AND NEW.version IS DISTINCT FROM OLD.version + 1)
           OR (TG_OP = 'INSERT' AND NEW.version IS DISTINCT FROM 1)
           OR NOT EXISTS (SELECT 1 FROM wf_history h WHERE h.record_id = NEW.id
                          AND h.version = NEW.version) THEN
            RAISE EXCEPTION 'the login % may change request % only a version at a time, with '
                'the history row of its new version', session_user, NEW.ref;
        END IF;
    ELSIF NEW.seq > (SELECT size FROM wf_log_head WHERE id = 1) THEN
        RAISE EXCEPTION 'the login % may not write history row % past the log head',
            session_user, NEW.seq;
    END IF;
    RETURN NULL;
END
$$
"""
KEPT = {"wf_record": "INSERT OR UPDATE", "wf_history": "INSERT"}


def _by_login(bind: sa.engine.Connection) -> bool:
    return bind.dialect.name != "sqlite" and bind.execute(sa.text(
        "SELECT 1 FROM wf_setting WHERE key = 'actor_authentication' "
        "AND value = 'database_login'")).first() is not None


def upgrade() -> None:
    for table in TABLES:
        op.add_column(table, sa.Column("after_row", sa.Integer(), nullable=True))
    op.add_column("wf_user_change", sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(),
                                              nullable=True))
    bind = op.get_bind()
    if _by_login(bind):
        schema = bind.execute(sa.text("SELECT current_schema()")).scalar()
        quoted = '"' + str(schema).replace('"', '""') + '"'
        bind.execute(sa.text(LOG_KEPT.format(schema=quoted)))
        for table, events in KEPT.items():
            bind.execute(sa.text(
                f"CREATE CONSTRAINT TRIGGER {table}_kept_in_the_log AFTER {events} ON {table} "
                "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION "
                "wf_kept_in_the_log()"))


def downgrade() -> None:
    bind = op.get_bind()
    for table in TABLES:
        kept = bind.execute(sa.text(f"SELECT count(*) FROM {table} WHERE after_row IS NOT NULL"))
        count = kept.scalar()
        if count:  # their links cover it: without it the chain would no longer verify
            raise RuntimeError(f"{count} change(s) in {table} keep their place in the history's "
                               "order, which revision 0011 has no place for; refusing to drop it")
    if _by_login(bind):
        for table in KEPT:
            bind.execute(sa.text(f"DROP TRIGGER IF EXISTS {table}_kept_in_the_log ON {table}"))
        bind.execute(sa.text("DROP FUNCTION IF EXISTS wf_kept_in_the_log()"))
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} DROP COLUMN after_row")
    op.execute("ALTER TABLE wf_user_change DROP COLUMN reason")
