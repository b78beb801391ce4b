"""history found by record id only: drop the index on the history's reference column

Revision ID: 0005
Revises: 0004

Every query for one request's history goes through its record id (the reference is looked up in
the records table), so the second index on the same rows only cost each firing a page write.
"""

from __future__ import annotations

from alembic import op

from workflow.migrations.indexes import drop_index

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    drop_index(op.get_bind(), "ix_wf_history_ref")


def downgrade() -> None:
    op.create_index("ix_wf_history_ref", "wf_history", ["ref"], unique=False)
