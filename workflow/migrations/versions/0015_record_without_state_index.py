"""drop the index on the request's state column

Revision ID: 0015
Revises: 0014

Every event fired changes a request's state, so the index cost each firing two or more page
writes (the old entry's and the new one's), a third of what a firing writes on SQLite, and on
PostgreSQL it kept the update from staying on the row's page. A state holds a large share of
the requests, so reading those in one state by their ids is no slower without it; the requests
due are found by their due date's index.
"""

from __future__ import annotations

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_wf_record_state", table_name="wf_record")


def downgrade() -> None:
    op.create_index("ix_wf_record_state", "wf_record", ["state"], unique=False)
