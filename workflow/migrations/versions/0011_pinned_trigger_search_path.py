"""the login trigger looks its tables up in its own schema only

Revision ID: 0011
Revises: 0010

Where the database authenticates by login, the trigger that makes each login write rows in its
own name looked ``wf_user`` up along the session's search path, where a temporary table of that
name, which any login may create, came first. From this revision on the function searches its
own schema, with temporary tables last.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

# migrations stay as they were written: this is the trigger of this revision, not the live one
ACTOR_IS_LOGIN = """
CREATE OR REPLACE FUNCTION wf_written_by_its_actor() RETURNS trigger LANGUAGE plpgsql
SET search_path = {schema}, pg_temp AS $$
BEGIN
    IF NEW.actor IS DISTINCT FROM session_user THEN
        RAISE EXCEPTION 'the login % may not write a % row for %', session_user, TG_TABLE_NAME,
            NEW.actor;
    END IF;
    IF TG_TABLE_NAME = 'wf_history' THEN  -- nested: NEW.roles exists on that table only
        IF NOT EXISTS (SELECT 1 FROM wf_user u WHERE u.name = session_user AND u.active
                       AND CAST(u.roles AS jsonb) = CAST(NEW.roles AS jsonb)) THEN
            RAISE EXCEPTION 'the login % may write history rows only as an active user, with '
                'its own roles', session_user;
        END IF;
        IF NEW.acted_as IS NULL OR jsonb_typeof(CAST(NEW.acted_as AS jsonb)) <> 'array'
           OR jsonb_array_length(CAST(NEW.acted_as AS jsonb)) = 0
           OR NOT CAST(NEW.acted_as AS jsonb) <@ CAST(NEW.roles AS jsonb) THEN
            RAISE EXCEPTION 'the login % may write history rows only acting as roles it holds',
                session_user;
        END IF;
    END IF;
    RETURN NEW;
END
$$
"""

UNPINNED = ACTOR_IS_LOGIN.replace("\nSET search_path = {schema}, pg_temp AS $$", " AS $$")


def _by_login(bind: sa.engine.Connection) -> bool:
    return bind.dialect.name != "sqlite" and bind.execute(sa.text(
        "SELECT 1 FROM wf_setting WHERE key = 'actor_authentication' "
        "AND value = 'database_login'")).first() is not None


def upgrade() -> None:
    bind = op.get_bind()
    if _by_login(bind):
        schema = bind.execute(sa.text("SELECT current_schema()")).scalar()
        quoted = '"' + str(schema).replace('"', '""') + '"'
        bind.execute(sa.text(ACTOR_IS_LOGIN.format(schema=quoted)))


def downgrade() -> None:
    bind = op.get_bind()
    if _by_login(bind):
        bind.execute(sa.text(UNPINNED))
