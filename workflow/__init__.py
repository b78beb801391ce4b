"""A generic, audited state-machine workflow engine persisted with SQLModel.

``from workflow import Workflow`` is the one entry point; it is imported lazily so that
importing the package (for example by the CLI's ``--help``) does not load the database stack.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from workflow.errors import (
    Busy,
    Conflict,
    InvalidInput,
    NotFound,
    NotInitialised,
    Refused,
    UnknownUser,
    WorkflowError,
)

if TYPE_CHECKING:
    from workflow.engine import Workflow

__all__ = [
    "Busy",
    "Conflict",
    "InvalidInput",
    "NotFound",
    "NotInitialised",
    "Refused",
    "UnknownUser",
    "Workflow",
    "WorkflowError",
]


def __getattr__(name: str) -> Any:
    if name == "Workflow":
        from workflow.engine import Workflow

        return Workflow
    raise AttributeError(name)
