"""drop the index on the request's state column

Revision ID: 0015
Revises: 0014

Every event fired changes a request's state, so the index cost each firing about two page
writes (the old entry's and the new one's), a quarter of what a firing writes on SQLite, and on
PostgreSQL it kept the update from staying on the row's page. A state holds a large share of
the requests, so reading those in one state by their ids is no slower without it; the requests
due are found by their due date's index.

An index dropped by hand already, or another schema's of that name, is left alone
(:mod:`workflow.migrations.indexes`).
"""

from __future__ import annotations

from alembic import op

from workflow.migrations.indexes import drop_index

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

INDEX = "ix_wf_record_state"


def upgrade() -> None:
    drop_index(op.get_bind(), INDEX)


def downgrade() -> None:
    op.create_index(INDEX, "wf_record", ["state"], unique=False)
