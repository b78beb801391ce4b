"""user and policy changes keep their place in the history's order

Revision ID: 0012
Revises: 0011

From this revision on a change to the users or to the policy keeps how many history rows were
written before it (``after_row``), chained with the rest of the change. Every writer takes the
log head first, so the number places the change exactly between two history rows: verification
can then hold each row to the users and the policy as they stood when it was written. Changes
already made keep their bytes and their links: they have no ``after_row`` at all.

The log head also keeps the latest time a write was stamped with (``last_at``), so that a write
whose clock is more than a day behind it is refused: the log's times then follow its order.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

TABLES = ("wf_user_change", "wf_policy_change")


def upgrade() -> None:
    for table in TABLES:
        op.add_column(table, sa.Column("after_row", sa.Integer(), nullable=True))
    op.add_column("wf_log_head", sa.Column("last_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    bind = op.get_bind()
    for table in TABLES:
        kept = bind.execute(sa.text(f"SELECT count(*) FROM {table} WHERE after_row IS NOT NULL"))
        count = kept.scalar()
        if count:  # their links cover it: without it the chain would no longer verify
            raise RuntimeError(f"{count} change(s) in {table} keep their place in the history's "
                               "order, which revision 0011 has no place for; refusing to drop it")
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} DROP COLUMN after_row")
    op.execute("ALTER TABLE wf_log_head DROP COLUMN last_at")
