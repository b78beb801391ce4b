"""The transfer-request process: plain data and small rule functions, no database, no CLI."""

from states.seed import KINDS, SEEDED_RESTRICTIONS
from states.transfer import PROCESS

__all__ = ["KINDS", "PROCESS", "SEEDED_RESTRICTIONS"]
