"""history rows count their place in the request's history

Revision ID: 0010
Revises: 0009

From this revision on a history row keeps the request's version after it (``version``: 1 for
its drafting, one more for each row after), hashed with the rest of the row, so that a proof of
a request's rows shows any of them left out. Rows already written keep their bytes and their
hashes: they have no ``version`` at all.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("wf_history", sa.Column("version", sa.Integer(), nullable=True))


def downgrade() -> None:
    bind = op.get_bind()
    kept = bind.execute(sa.text("SELECT count(*) FROM wf_history WHERE version IS NOT NULL"))
    count = kept.scalar()
    if count:  # their hashes cover it: without it they would no longer verify
        raise RuntimeError(f"{count} history row(s) count their place in their request's "
                           "history, which revision 0009 has no place for; refusing to drop it")
    # SQLite drops the column in place (a copied table would lose its append-only triggers)
    op.execute("ALTER TABLE wf_history DROP COLUMN version")
