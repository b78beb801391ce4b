"""drop the index on the history's actor column

Revision ID: 0006
Revises: 0005

No query looks history rows up by actor (reports read the whole log in order), so the index only
cost each firing a page write.
"""

from __future__ import annotations

from alembic import op

from workflow.migrations.indexes import drop_index

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    drop_index(op.get_bind(), "ix_wf_history_actor")


def downgrade() -> None:
    op.create_index("ix_wf_history_actor", "wf_history", ["actor"], unique=False)
