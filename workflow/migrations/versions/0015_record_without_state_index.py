"""drop the index on the request's state column

Revision ID: 0015
Revises: 0014

Every event fired changes a request's state, so the index cost each firing about two page
writes (the old entry's and the new one's), a quarter of what a firing writes on SQLite, and on
PostgreSQL it kept the update from staying on the row's page. A state holds a large share of
the requests, so reading those in one state by their ids is no slower without it; the requests
due are found by their due date's index.

An index dropped by hand already is nothing to drop; on PostgreSQL the index is named in the
database's own schema, so that no other schema on the search path loses one of that name.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

INDEX = "ix_wf_record_state"


def _qualified(bind: sa.engine.Connection) -> str:
    if bind.dialect.name != "postgresql":
        return INDEX
    schema = bind.execute(sa.text("SELECT current_schema()")).scalar()
    return '"' + str(schema).replace('"', '""') + '".' + INDEX


def upgrade() -> None:
    bind = op.get_bind()
    bind.execute(sa.text(f"DROP INDEX IF EXISTS {_qualified(bind)}"))


def downgrade() -> None:
    op.create_index(INDEX, "wf_record", ["state"], unique=False)
