"""The country restrictions a new database starts with (DOMAIN.md, "Country restrictions")."""

from __future__ import annotations

from datetime import date

from workflow.process import Restriction

EMBARGO = "embargo"
IN_COMBAT = "in-combat"
KINDS = (EMBARGO, IN_COMBAT)

SEEDED_RESTRICTIONS = (
    Restriction("KP", EMBARGO, date(2006, 10, 14), None,
                "UN Security Council measures (UNSC resolution 1718)"),
    Restriction("UA", IN_COMBAT, date(2022, 2, 24), None, "in combat (named by the seed article)"),
    Restriction("RU", IN_COMBAT, date(2022, 2, 24), None, "in combat (seeded beside Ukraine)"),
    Restriction("IL", IN_COMBAT, date(2023, 10, 7), None, "in combat (named by the seed article)"),
)
