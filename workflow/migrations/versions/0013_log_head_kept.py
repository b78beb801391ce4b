"""the log head's tree is kept by what a login writes

Revision ID: 0013
Revises: 0012

Where the database authenticates by login (after `workflow db grant`), what a login writes must
also leave the log head's tree that of its last history row, its root the one stored with that
row, checked when the transaction commits: a login could otherwise leave the next writer a tree
that gives every later row a wrong root, and verification would name those honest rows. Nothing
changes on SQLite, or where the database does not authenticate by login.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

# migrations stay as they were written: this is the function of this revision, not the live one
LOG_KEPT = """
CREATE OR REPLACE FUNCTION wf_kept_in_the_log() RETURNS trigger LANGUAGE plpgsql
SET search_path = {schema}, pg_temp AS $$
DECLARE
    nodes text[];
    root bytea;
BEGIN
    IF TG_TABLE_NAME = 'wf_record' THEN
        IF (TG_OP = 'UPDATE' AND NEW.version IS DISTINCT FROM OLD.version + 1)
           OR (TG_OP = 'INSERT' AND NEW.version IS DISTINCT FROM 1)
           OR NOT EXISTS (SELECT 1 FROM wf_history h WHERE h.record_id = NEW.id
                          AND h.version = NEW.version) THEN
            RAISE EXCEPTION 'the login % may change request % only a version at a time, with '
                'the history row of its new version', session_user, NEW.ref;
        END IF;
    ELSIF TG_TABLE_NAME = 'wf_log_head' THEN
        IF NEW.size > 0 THEN
            nodes := ARRAY(SELECT n FROM jsonb_array_elements_text(CAST(NEW.frontier AS jsonb))
                           WITH ORDINALITY AS f(n, i) ORDER BY i);
            root := decode(nodes[cardinality(nodes)], 'hex');
            FOR i IN REVERSE cardinality(nodes) - 1 .. 1 LOOP
                root := sha256(decode('01', 'hex') || decode(nodes[i], 'hex') || root);
            END LOOP;
            IF root IS DISTINCT FROM (SELECT decode(h.root_hash, 'hex') FROM wf_history h
                                      WHERE h.seq = NEW.size) THEN
                RAISE EXCEPTION 'the login % may not set the log head to a tree other than '
                    'that of its last row', session_user;
            END IF;
        END IF;
    ELSIF NEW.seq > (SELECT size FROM wf_log_head WHERE id = 1) THEN
        RAISE EXCEPTION 'the login % may not write history row % past the log head',
            session_user, NEW.seq;
    END IF;
    RETURN NULL;
END
$$
"""


def _by_login(bind: sa.engine.Connection) -> bool:
    return bind.dialect.name != "sqlite" and bind.execute(sa.text(
        "SELECT 1 FROM wf_setting WHERE key = 'actor_authentication' "
        "AND value = 'database_login'")).first() is not None


def _schema(bind: sa.engine.Connection) -> str:
    schema = bind.execute(sa.text("SELECT current_schema()")).scalar()
    return '"' + str(schema).replace('"', '""') + '"'


def upgrade() -> None:
    bind = op.get_bind()
    if _by_login(bind):
        bind.execute(sa.text(LOG_KEPT.format(schema=_schema(bind))))
        bind.execute(sa.text("DROP TRIGGER IF EXISTS wf_log_head_kept_in_the_log ON wf_log_head"))
        bind.execute(sa.text(
            "CREATE CONSTRAINT TRIGGER wf_log_head_kept_in_the_log AFTER UPDATE ON wf_log_head "
            "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION wf_kept_in_the_log()"))


def downgrade() -> None:
    bind = op.get_bind()
    if _by_login(bind):
        from importlib import import_module

        previous = import_module("workflow.migrations.versions.0012_change_log_place").LOG_KEPT
        bind.execute(sa.text("DROP TRIGGER IF EXISTS wf_log_head_kept_in_the_log ON wf_log_head"))
        bind.execute(sa.text(previous.format(schema=_schema(bind))))
