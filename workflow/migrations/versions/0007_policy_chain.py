"""policy changes chained and append-only, the last link in the log head

Revision ID: 0007
Revises: 0006

Each policy change stores SHA-256(previous link || canonical change), as refusals do; changes
already recorded are linked in their order here. The change table then gets the append-only
triggers of the history and refusal tables.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

GENESIS = "0" * 64
TRIGGER_SQLITE = ("CREATE TRIGGER IF NOT EXISTS wf_policy_change_no_{op} BEFORE {OP} ON "
                  "wf_policy_change BEGIN SELECT RAISE(ABORT, 'wf_policy_change is append-only: "
                  "{OP} refused'); END")
TRIGGER_PG = ("CREATE TRIGGER wf_policy_change_append_only BEFORE UPDATE OR DELETE OR TRUNCATE "
              "ON wf_policy_change FOR EACH STATEMENT EXECUTE FUNCTION wf_append_only()")


def _day(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else date.isoformat(value)


def _moment(value: Any) -> str:
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.isoformat()


def _link(previous: str, row: dict[str, Any]) -> str:
    body = json.dumps(row, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    return hashlib.sha256(bytes.fromhex(previous) + body).hexdigest()


def upgrade() -> None:
    op.add_column("wf_policy_change",
                  sa.Column("chain", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
    op.add_column("wf_log_head", sa.Column("policy_changes", sa.Integer(), nullable=False,
                                           server_default="0"))
    op.add_column("wf_log_head", sa.Column("policy_chain",
                                           sqlmodel.sql.sqltypes.AutoString(length=64),
                                           nullable=False, server_default=GENESIS))
    bind = op.get_bind()
    rows = bind.execute(sa.text(
        "SELECT seq, entry_id, action, subject, kind, since, until, actor, at, reason "
        "FROM wf_policy_change ORDER BY seq")).all()
    link = GENESIS
    for seq, entry_id, action, subject, kind, since, until, actor, at, reason in rows:
        link = _link(link, {"entry_id": entry_id, "action": action, "subject": subject,
                            "kind": kind, "since": _day(since), "until": _day(until),
                            "actor": actor, "at": _moment(at), "reason": reason})
        bind.execute(sa.text("UPDATE wf_policy_change SET chain = :link WHERE seq = :seq"),
                     {"link": link, "seq": seq})
    bind.execute(sa.text("UPDATE wf_log_head SET policy_changes = :count, policy_chain = :link "
                         "WHERE id = 1"), {"count": len(rows), "link": link})
    if bind.dialect.name == "sqlite":
        for name in ("update", "delete"):
            op.execute(TRIGGER_SQLITE.format(op=name, OP=name.upper()))
    else:  # dropped first: CREATE OR REPLACE TRIGGER needs PostgreSQL 14
        op.execute("DROP TRIGGER IF EXISTS wf_policy_change_append_only ON wf_policy_change")
        op.execute(TRIGGER_PG)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in ("update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS wf_policy_change_no_{name}")
    else:
        op.execute("DROP TRIGGER IF EXISTS wf_policy_change_append_only ON wf_policy_change")
    with op.batch_alter_table("wf_log_head") as batch:
        batch.drop_column("policy_chain")
        batch.drop_column("policy_changes")
    with op.batch_alter_table("wf_policy_change") as batch:
        batch.drop_column("chain")
