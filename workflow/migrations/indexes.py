"""What the revisions that drop an index share, kept as they need it (not the live code's).

An index dropped by hand already is nothing to drop; on PostgreSQL the index is named in the
database's own schema, so that no other schema on the search path loses one of that name.
"""

from __future__ import annotations

import sqlalchemy as sa


def drop_index(bind: sa.engine.Connection, name: str) -> None:
    qualified = name
    if bind.dialect.name == "postgresql":
        schema = bind.execute(sa.text("SELECT current_schema()")).scalar()
        qualified = '"' + str(schema).replace('"', '""') + '".' + name
    bind.execute(sa.text(f"DROP INDEX IF EXISTS {qualified}"))
