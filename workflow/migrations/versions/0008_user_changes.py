"""changes to the users recorded, chained and append-only, the last link in the log head

Revision ID: 0008
Revises: 0007

Each user added or disabled is a change: who, when, with which roles, linked to the change
before as policy changes are. The users a database already holds were recorded by no change:
each is entered as ``found``, with the roles and state the upgrade finds, registered by whom
and when the user row says.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

GENESIS = "0" * 64
TRIGGER_SQLITE = ("CREATE TRIGGER IF NOT EXISTS wf_user_change_no_{op} BEFORE {OP} ON "
                  "wf_user_change BEGIN SELECT RAISE(ABORT, 'wf_user_change is append-only: "
                  "{OP} refused'); END")
TRIGGER_PG = ("CREATE TRIGGER wf_user_change_append_only BEFORE UPDATE OR DELETE OR TRUNCATE "
              "ON wf_user_change FOR EACH STATEMENT EXECUTE FUNCTION wf_append_only()")


def _moment(value: Any) -> str:
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.isoformat()


def _link(previous: str, row: dict[str, Any]) -> str:
    body = json.dumps(row, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    return hashlib.sha256(bytes.fromhex(previous) + body).hexdigest()


def upgrade() -> None:
    op.create_table(
        "wf_user_change",
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("action", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("roles", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("actor", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("chain", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
    )
    op.add_column("wf_log_head", sa.Column("user_changes", sa.Integer(), nullable=False,
                                           server_default="0"))
    op.add_column("wf_log_head", sa.Column("user_chain",
                                           sqlmodel.sql.sqltypes.AutoString(length=64),
                                           nullable=False, server_default=GENESIS))
    bind = op.get_bind()
    users = bind.execute(sa.text(
        "SELECT name, roles, active, created_by, created_at FROM wf_user "
        "ORDER BY created_at, name")).all()
    link = GENESIS
    for name, roles, active, created_by, created_at in users:
        listed = sorted(json.loads(roles) if isinstance(roles, str) else roles)
        link = _link(link, {"action": "found", "name": name, "roles": listed,
                            "active": bool(active), "actor": created_by,
                            "at": _moment(created_at)})
        bind.execute(sa.text(
            "INSERT INTO wf_user_change (action, name, roles, active, actor, at, chain) "
            "VALUES ('found', :name, :roles, :active, :actor, :at, :chain)"),
            {"name": name, "roles": json.dumps(listed), "active": bool(active),
             "actor": created_by, "at": created_at, "chain": link})
    bind.execute(sa.text("UPDATE wf_log_head SET user_changes = :count, user_chain = :link "
                         "WHERE id = 1"), {"count": len(users), "link": link})
    if bind.dialect.name == "sqlite":
        for name in ("update", "delete"):
            op.execute(TRIGGER_SQLITE.format(op=name, OP=name.upper()))
    else:
        op.execute("DROP TRIGGER IF EXISTS wf_user_change_append_only ON wf_user_change")
        op.execute(TRIGGER_PG)
        _grant(bind)


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
    END IF;
    RETURN NEW;
END
$$
"""


def _grant(bind: Any) -> None:
    """Where `db grant` made group roles for this schema, they read the new table, and the
    admins' role records changes in it, as a new `db grant` would have them do; where the
    database authenticates by login, rows naming who acted must name the login writing them."""
    by_login = bind.execute(sa.text(
        "SELECT 1 FROM wf_setting WHERE key = 'actor_authentication' "
        "AND value = 'database_login'")).first()
    if by_login is not None:
        bind.execute(sa.text(ACTOR_IS_LOGIN))
        for table in ("wf_history", "wf_refusal", "wf_policy_change", "wf_user_change"):
            bind.execute(sa.text(f"DROP TRIGGER IF EXISTS {table}_by_its_actor ON {table}"))
            bind.execute(sa.text(f"CREATE TRIGGER {table}_by_its_actor BEFORE INSERT ON {table} "
                                 "FOR EACH ROW EXECUTE FUNCTION wf_written_by_its_actor()"))
    database, schema = bind.execute(sa.text("SELECT current_database(), current_schema()")).one()
    prefix = f"wf_{schema}_".replace("\\", "\\\\").replace("_", "\\_").replace("%", "\\%")
    groups = [name for (name,) in bind.execute(sa.text(
        "SELECT rolname FROM pg_roles WHERE rolname LIKE :p"), {"p": prefix + "%"})]
    # the roles as `db grant` names them since it tells databases apart: wf_<role>_<digest>
    digest = hashlib.sha256(f"{database}\x00{schema}".encode()).hexdigest()[:10]
    groups += [name for (name,) in bind.execute(sa.text(
        "SELECT rolname FROM pg_roles WHERE rolname LIKE :p"), {"p": f"wf\\_%\\_{digest}"})]
    for group in groups:
        bind.execute(sa.text(f'GRANT SELECT ON wf_user_change TO "{group}"'))
    admin = next((g for g in groups if g in (f"wf_{schema}_admin"[:63], f"wf_admin_{digest}")),
                 None)
    if admin is not None:
        bind.execute(sa.text(f'GRANT INSERT ON wf_user_change TO "{admin}"'))
        bind.execute(sa.text(f'GRANT USAGE ON SEQUENCE wf_user_change_seq_seq TO "{admin}"'))


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in ("update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS wf_user_change_no_{name}")
    else:
        op.execute("DROP TRIGGER IF EXISTS wf_user_change_append_only ON wf_user_change")
        for table in ("wf_history", "wf_refusal", "wf_policy_change"):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_by_its_actor ON {table}")
    with op.batch_alter_table("wf_log_head") as batch:
        batch.drop_column("user_chain")
        batch.drop_column("user_changes")
    op.drop_table("wf_user_change")
