"""a request is kept to its history rows by what a login writes

Revision ID: 0014
Revises: 0013

Where the database authenticates by login (after `workflow db grant`), a request a login writes
must also enter the state its new history row enters, be drafted by whoever its drafting row
names, and never be given another drafter, drafting time, reference or process: the program
reads who drafted a request from the request when it judges separation of duties, so a login
that drafts and approves could otherwise name someone else as drafter of its own request and
approve it. Nothing changes on SQLite, or where the database does not authenticate by login.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
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
        IF (TG_OP = 'UPDATE' AND (NEW.version IS DISTINCT FROM OLD.version + 1
                                  OR NEW.ref IS DISTINCT FROM OLD.ref
                                  OR NEW.process IS DISTINCT FROM OLD.process
                                  OR NEW.created_by IS DISTINCT FROM OLD.created_by
                                  OR NEW.created_at IS DISTINCT FROM OLD.created_at))
           OR (TG_OP = 'INSERT' AND NEW.version IS DISTINCT FROM 1)
           OR NOT EXISTS (SELECT 1 FROM wf_history h WHERE h.record_id = NEW.id
                          AND h.version = NEW.version AND h.ref = NEW.ref
                          AND h.to_state = NEW.state
                          AND (TG_OP = 'UPDATE' OR (h.from_state IS NULL
                                                    AND h.actor = NEW.created_by))) THEN
            RAISE EXCEPTION 'the login % may change request % only a version at a time, with '
                'the history row of its new version (the state it enters; drafting it, its '
                'drafter), and never who drafted it or when', session_user, NEW.ref;
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


def downgrade() -> None:
    bind = op.get_bind()
    if _by_login(bind):
        from importlib import import_module

        previous = import_module("workflow.migrations.versions.0013_log_head_kept").LOG_KEPT
        bind.execute(sa.text(previous.format(schema=_schema(bind))))
