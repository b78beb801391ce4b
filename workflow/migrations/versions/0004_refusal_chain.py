"""refusal log chained: each refusal linked to the one before, the last link in the log head

Revision ID: 0004
Revises: 0003

Columns are added in place (no table rebuild), so the append-only triggers stay.
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

GENESIS = "0" * 64


def upgrade() -> None:
    op.add_column("wf_refusal", sa.Column("chain", sqlmodel.sql.sqltypes.AutoString(length=64),
                                          nullable=True))
    op.add_column("wf_log_head", sa.Column("refusals", sa.Integer(), nullable=False,
                                           server_default="0"))
    op.add_column("wf_log_head", sa.Column("refusal_chain",
                                           sqlmodel.sql.sqltypes.AutoString(length=64),
                                           nullable=False, server_default=GENESIS))


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
