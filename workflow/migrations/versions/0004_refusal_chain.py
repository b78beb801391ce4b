"""refusal log chained: each refusal linked to the one before, the last link in the log head

Revision ID: 0004
Revises: 0003

Columns are added in place (no table rebuild), so the append-only triggers stay. Refusals
already recorded are linked in their order here (the append-only trigger set aside for it), so
the chain covers every refusal, as migration 0007 does for policy changes.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

GENESIS = "0" * 64
NO_UPDATE_SQLITE = ("CREATE TRIGGER wf_refusal_no_update BEFORE UPDATE ON wf_refusal BEGIN SELECT "
                    "RAISE(ABORT, 'wf_refusal is append-only: UPDATE refused'); END")


def _moment(value: Any) -> str:
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.isoformat()


def _link(previous: str, row: dict[str, Any]) -> str:
    body = json.dumps(row, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    return hashlib.sha256(bytes.fromhex(previous) + body).hexdigest()


def upgrade() -> None:
    op.add_column("wf_refusal", sa.Column("chain", sqlmodel.sql.sqltypes.AutoString(length=64),
                                          nullable=True))
    op.add_column("wf_log_head", sa.Column("refusals", sa.Integer(), nullable=False,
                                           server_default="0"))
    op.add_column("wf_log_head", sa.Column("refusal_chain",
                                           sqlmodel.sql.sqltypes.AutoString(length=64),
                                           nullable=False, server_default=GENESIS))
    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT seq, at, actor, ref, event, state, rule, message "
                                "FROM wf_refusal ORDER BY seq")).all()
    if not rows:
        return
    sqlite = bind.dialect.name == "sqlite"
    op.execute("DROP TRIGGER wf_refusal_no_update" if sqlite
               else "ALTER TABLE wf_refusal DISABLE TRIGGER wf_refusal_append_only")
    link = GENESIS
    for seq, at, actor, ref, event, state, rule, message in rows:
        link = _link(link, {"at": _moment(at), "actor": actor, "ref": ref, "event": event,
                            "state": state, "rule": rule, "message": message})
        bind.execute(sa.text("UPDATE wf_refusal SET chain = :link WHERE seq = :seq"),
                     {"link": link, "seq": seq})
    op.execute(NO_UPDATE_SQLITE if sqlite
               else "ALTER TABLE wf_refusal ENABLE TRIGGER wf_refusal_append_only")
    bind.execute(sa.text("UPDATE wf_log_head SET refusals = :count, refusal_chain = :link "
                         "WHERE id = 1"), {"count": len(rows), "link": link})


def downgrade() -> None:
    with op.batch_alter_table("wf_log_head") as batch:
        batch.drop_column("refusal_chain")
        batch.drop_column("refusals")
    if op.get_bind().dialect.name == "sqlite":
        # dropping a column rebuilds the table on SQLite; the triggers go with it
        for name in ("wf_refusal_no_update", "wf_refusal_no_delete"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    with op.batch_alter_table("wf_refusal") as batch:
        batch.drop_column("chain")
    if op.get_bind().dialect.name == "sqlite":
        for name, event in (("wf_refusal_no_update", "UPDATE"), ("wf_refusal_no_delete", "DELETE")):
            op.execute(f"CREATE TRIGGER {name} BEFORE {event} ON wf_refusal BEGIN SELECT "
                       f"RAISE(ABORT, 'wf_refusal is append-only: {event} refused'); END")
