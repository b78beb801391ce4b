"""Click parameter types that check values before anything is looked up (exit code 2)."""

from __future__ import annotations

from typing import Any

import click

from workflow import refusal_names, values
from workflow.errors import InvalidInput
from workflow.process import Process


class ValueKind(click.ParamType):
    """A value of one of the process's kinds (date, country, positive whole number...)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.name = kind

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        label = param.human_readable_name if param else self.kind
        try:
            return values.parse(self.kind, label, value)
        except InvalidInput as error:
            self.fail(str(error).removeprefix(f"{label}: "), param, ctx)


class Moment(click.ParamType):
    """YYYY-MM-DD or an ISO 8601 date-time, in UTC: the start of the span it names (a day, a
    minute, a second), or with ``end_of_day`` its end."""

    name = "datetime"

    def __init__(self, *, end_of_day: bool = False) -> None:
        self.end_of_day = end_of_day

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        label = param.human_readable_name if param else "datetime"
        try:
            return values.moment(label, value, end_of_day=self.end_of_day)
        except InvalidInput as error:
            self.fail(str(error).removeprefix(f"{label}: "), param, ctx)


class Reason(click.ParamType):
    name = "text"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        try:
            return values.reason(value)
        except InvalidInput as error:
            self.fail(str(error).removeprefix("reason: "), param, ctx)


class ProcessName(click.ParamType):
    """An event, state or role name the process has."""

    def __init__(self, process: Process, what: str) -> None:
        self.process = process
        self.what = what
        self.name = what.removeprefix("logged-").removeprefix("refused-")

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        check = {
            "event": lambda v: self.process.event(v).name,
            "logged-event": self.process.logged_event,
            "refused-event": lambda v: refusal_names.refused_event(self.process, v),
            "state": self.process.check_state,
            "role": self.process.check_role,
            "kind": self.process.check_policy_kind,
        }[self.what]
        try:
            return check(str(value).strip())
        except InvalidInput as error:
            self.fail(str(error), param, ctx)


class FilePath(click.Path):
    """A file's name: an empty one, which the path would read as ``.``, is refused as empty."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and not value:
            self.fail("an empty file name", param, ctx)
        return super().convert(value, param, ctx)


DATE = ValueKind("date")
COUNTRY = ValueKind("country")
REASON = Reason()
SINCE = Moment()
UNTIL = Moment(end_of_day=True)

EXPECTED_VERSION = click.option(
    "--expected-version", type=click.IntRange(min=1), metavar="N",
    help="Only if the request is still at version N (the version `request show` gives): a "
         "script's guard against a change made since it read the request; otherwise nothing "
         "is changed and the exit code is 1 (conflict).")
