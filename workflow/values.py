"""Parsing and validation of the value kinds a process's fields and event arguments use.

Every parser takes what a person or a script typed (or an already-typed value) and returns the
canonical Python value, or raises :class:`InvalidInput` naming the field and what is wrong.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Any

from workflow.errors import InvalidInput

MAX_TEXT = 2000
MAX_REASON = 2000
_CONTROL = re.compile("[\x00-\x08\x0a-\x1f]")  # control characters other than tab


def _encodable(name: str, value: str) -> str:
    """Text the databases can store: valid UTF-8 and no NUL byte."""
    if "\x00" in value:
        raise InvalidInput(f"{name}: contains a NUL byte")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput(f"{name}: is not valid UTF-8 text") from None
    return value


def text(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise InvalidInput(f"{name}: expected text, got {type(value).__name__}")
    _encodable(name, value)
    cleaned = value.strip()
    if not cleaned:
        raise InvalidInput(f"{name}: must not be empty")
    if len(cleaned) > MAX_TEXT:
        raise InvalidInput(f"{name}: longer than {MAX_TEXT} characters")
    if _CONTROL.search(cleaned):
        raise InvalidInput(f"{name}: contains control characters")
    return cleaned


def positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool):
        raise InvalidInput(f"{name}: expected a positive whole number, got {value!r}")
    if isinstance(value, int):
        number = value
    else:
        try:
            number = int(str(value).strip())
        except ValueError:
            raise InvalidInput(
                f"{name}: expected a positive whole number, got {value!r}"
            ) from None
    if number <= 0:
        raise InvalidInput(f"{name}: must be a positive whole number, got {number}")
    if number > 2**31 - 1:
        raise InvalidInput(f"{name}: {number} is too large")
    return number


def decimal(name: str, value: Any) -> str:
    """A non-negative decimal amount, kept as its canonical string so JSON never rounds it."""
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise InvalidInput(f"{name}: expected a decimal number, got {value!r}") from None
    if not amount.is_finite() or amount < 0:
        raise InvalidInput(f"{name}: must be a finite amount of zero or more, got {value!r}")
    if abs(amount.as_tuple().exponent) > 6 or amount.adjusted() > 15:  # type: ignore[operator]
        raise InvalidInput(f"{name}: {value!r} has too many digits")
    return str(amount)


def iso_date(name: str, value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        raise InvalidInput(f"{name}: expected a date as YYYY-MM-DD, got {value!r}") from None


def moment(name: str, value: Any, *, end_of_day: bool = False) -> datetime:
    """A UTC moment from ``YYYY-MM-DD`` or an ISO 8601 date-time (naive means UTC).

    A bare date means its first instant, or with ``end_of_day`` its last.
    """
    if isinstance(value, datetime):
        parsed = value
    else:
        text_value = str(value).strip()
        try:
            if len(text_value) == 10:
                day = date.fromisoformat(text_value)
                parsed = datetime.combine(day, time.max if end_of_day else time.min)
            else:
                parsed = datetime.fromisoformat(text_value.replace("Z", "+00:00"))
        except ValueError:
            raise InvalidInput(
                f"{name}: expected YYYY-MM-DD or an ISO 8601 date-time, got {value!r}"
            ) from None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


@cache
def _assigned_country(code: str) -> bool:
    import pycountry

    return pycountry.countries.get(alpha_2=code) is not None


def country(name: str, value: Any) -> str:
    """An ISO 3166-1 alpha-2 code of an assigned country, upper-cased."""
    code = str(value).strip().upper()
    if len(code) != 2 or not code.isascii() or not code.isalpha():
        raise InvalidInput(f"{name}: {value!r} is not an ISO 3166-1 alpha-2 country code")
    if not _assigned_country(code):
        raise InvalidInput(f"{name}: {code} is not an assigned ISO 3166-1 country code")
    return code


def currency(name: str, value: Any) -> str:
    """An ISO 4217 alphabetic currency code, upper-cased."""
    import pycountry

    code = str(value).strip().upper()
    if len(code) != 3 or not code.isascii() or not code.isalpha():
        raise InvalidInput(f"{name}: {value!r} is not an ISO 4217 currency code")
    if pycountry.currencies.get(alpha_3=code) is None:
        raise InvalidInput(f"{name}: {code} is not an ISO 4217 currency code")
    return code


def reason(value: str | None) -> str | None:
    """A free-text reason: blank means none; too long is malformed."""
    if value is None:
        return None
    cleaned = _encodable("reason", value).strip()
    if len(cleaned) > MAX_REASON:
        raise InvalidInput(f"reason: longer than {MAX_REASON} characters ({len(cleaned)})")
    return cleaned or None


PARSERS: dict[str, Callable[[str, Any], Any]] = {
    "text": text,
    "positive_int": positive_int,
    "decimal": decimal,
    "date": iso_date,
    "country": country,
    "currency": currency,
}


def parse(kind: str, name: str, value: Any) -> Any:
    return PARSERS[kind](name, value)


def to_json(value: Any) -> Any:
    """The JSON form of a parsed value: dates as YYYY-MM-DD, everything else as is."""
    if isinstance(value, date):
        return value.isoformat()
    return value
