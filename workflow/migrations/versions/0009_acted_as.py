"""history rows keep the roles the actor acted under

Revision ID: 0009
Revises: 0008

A history row listed every role its actor held; from this revision on it also keeps those under
which the actor was admitted to the event (``acted_as``). Rows already written keep their bytes
and their hashes: they have no ``acted_as`` at all. Where the database authenticates by login,
a new row must say, and only roles the login holds.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

# migrations stay as they were written: this is the trigger of this revision, not the live one
ACTOR_IS_LOGIN = """
CREATE OR REPLACE FUNCTION wf_written_by_its_actor() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.actor IS DISTINCT FROM session_user THEN
        RAISE EXCEPTION 'the login % may not write a % row for %', session_user, TG_TABLE_NAME,
            NEW.actor;
    END IF;
    IF TG_TABLE_NAME = 'wf_history' THEN
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


PREVIOUS_ACTOR_IS_LOGIN = ACTOR_IS_LOGIN[:ACTOR_IS_LOGIN.index("        IF NEW.acted_as")] + (
    ACTOR_IS_LOGIN[ACTOR_IS_LOGIN.index("    END IF;\n    RETURN NEW;"):])


def _by_login(bind: sa.engine.Connection) -> bool:
    return bind.dialect.name != "sqlite" and bind.execute(sa.text(
        "SELECT 1 FROM wf_setting WHERE key = 'actor_authentication' "
        "AND value = 'database_login'")).first() is not None


def upgrade() -> None:
    op.add_column("wf_history", sa.Column("acted_as", sa.JSON(none_as_null=True), nullable=True))
    bind = op.get_bind()
    if _by_login(bind):
        bind.execute(sa.text(ACTOR_IS_LOGIN))


def downgrade() -> None:
    bind = op.get_bind()
    kept = bind.execute(sa.text("SELECT count(*) FROM wf_history WHERE acted_as IS NOT NULL"))
    count = kept.scalar()
    if count:  # their hashes cover it: without it they would no longer verify
        raise RuntimeError(f"{count} history row(s) keep the role acted under, which revision "
                           "0008 has no place for; refusing to drop it")
    if _by_login(bind):
        bind.execute(sa.text(PREVIOUS_ACTOR_IS_LOGIN))
    # SQLite drops the column in place (a copied table would lose its append-only triggers)
    op.execute("ALTER TABLE wf_history DROP COLUMN acted_as")
