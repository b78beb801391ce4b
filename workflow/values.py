"""Parsing and validation of the value kinds a process's fields and event arguments use.

Every parser takes what a person or a script typed (or an already-typed value) and returns the
canonical Python value, or raises :class:`InvalidInput` naming the field and what is wrong.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from workflow.errors import InvalidInput

MAX_TEXT = 2000
MAX_REASON = 2000
MAX_INT = 2**31 - 1  # a whole number's bound (a 32-bit signed integer)
MAX_WHOLE_DIGITS = 16  # of a decimal amount, before the point
MAX_FRACTION_DIGITS = 6
# Characters that would let stored text forge lines or steer a terminal or the reading order:
# every control (category Cc: C0, DEL, C1 with U+0085), the line and paragraph separators, and
# every bidi control (Unicode's Bidi_Control: the marks ALM, LRM and RLM, the embeddings,
# overrides and isolates). Other format characters (ZWJ, ZWNJ) are kept.
BIDI_CONTROLS = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
UNSAFE = re.compile(f"[\x00-\x1f\x7f-\x9f\u2028\u2029{BIDI_CONTROLS}]")
_QUANTITY = re.compile(r"[0-9]+")
_AMOUNT = re.compile(r"([0-9]+)(?:\.([0-9]+))?")


# Letters that show nothing (Hangul fillers, the blank Braille pattern): with whitespace and
# format characters (zero-width space, word joiner...) they make text that looks empty.
_BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800")


def file_name(source: Path | str) -> str:
    """A file as messages (and the refusals recorded) name it: standard input by that name, a
    name holding characters a terminal acts on (controls, bidi marks) quoted, escaped."""
    name = str(source)
    if name == "-":
        return "standard input"
    return name if name.isprintable() else repr(name)


def named(path: Path) -> str:
    """A file by its name alone, as a check's messages name the file checked."""
    return file_name(path.name)


def _blank(value: str) -> bool:
    """Nothing a reader could see: a reason or a value made only of such characters is none."""
    import unicodedata

    return all(c.isspace() or c in _BLANK_LETTERS or unicodedata.category(c) == "Cf"
               for c in value)


def quoted(text: str, limit: int = 60) -> str:
    """Text as a message names it: quoted, and cut short when long (the length said)."""
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}… ({len(text)} characters)"


def shown(value: Any) -> str:
    """A value as the person wrote it, for a message: text quoted, JSON's true, false and null
    as JSON spells them, numbers as their digits."""
    if isinstance(value, str):
        return quoted(value)
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    if isinstance(value, int | float) or type(value).__name__ == "Decimal":
        return str(value)
    return f"a {type(value).__name__}"


def _encodable(name: str, value: str) -> str:
    """Text the databases can store: valid UTF-8 and no NUL byte."""
    if "\x00" in value:
        raise InvalidInput(f"{name}: contains a NUL byte")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput(f"{name}: is not valid UTF-8 text") from None
    return value


def _unsafe_kind(char: str) -> str:
    if char in BIDI_CONTROLS:
        return "bidi control character"
    return {"\u2028": "line separator", "\u2029": "paragraph separator"}.get(
        char, "control character")


def check_safe(name: str, value: str) -> str:
    """Refuse text holding an :data:`UNSAFE` character, naming the first as ``U+XXXX``."""
    found = UNSAFE.search(value)
    if found:
        char = found.group()
        raise InvalidInput(f"{name}: {_unsafe_kind(char)} U+{ord(char):04X} not allowed")
    return value


def plain(value: Any) -> Any:
    """Text, dates and moments as the built-in types hold them: a subclass handed to the API
    is read through the built-in's own methods, so a method it overrides (``__eq__``, ``year``)
    cannot make a rule see one value while another is stored."""
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return int.__int__(value)
    if isinstance(value, datetime):
        return datetime.combine(datetime.date(value), datetime.timetz(value))
    if isinstance(value, date):
        return date.fromordinal(date.toordinal(value))
    return value


def _as_text(value: Any) -> str:
    """What ``str()`` makes of a value, as a built-in string."""
    return str.__str__(value if isinstance(value, str) else str(value))


def text(name: str, value: Any) -> str:
    value = _encodable(name, given_text(name, value))
    cleaned = value.strip()
    if not cleaned:
        raise InvalidInput(f"{name}: must not be empty")
    if len(cleaned) > MAX_TEXT:
        raise InvalidInput(f"{name}: longer than {MAX_TEXT} characters")
    check_safe(name, cleaned)
    if _blank(cleaned):
        raise InvalidInput(f"{name}: must not be blank (it has no visible character)")
    return cleaned


def given_text(name: str, value: Any) -> str:
    """A name or reference handed to the API: text, as typed (looked up, not stored)."""
    if not isinstance(value, str):
        raise InvalidInput(f"{name}: expected text, got {type(value).__name__}")
    return str.__str__(value)


def version(name: str, value: Any) -> int | None:
    """A version a caller expects a record to be at: a whole number from 1, or None."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidInput(f"{name}: expected a version (a whole number from 1), got "
                           f"{shown(value)}")
    return int.__int__(value)


def _typed(name: str, value: Any, expected: str) -> str:
    """What was typed, trimmed: text or a ``Decimal`` (never a float, whose digits are not
    those typed)."""
    if not isinstance(value, str):
        from decimal import Decimal  # only for values handed over as Decimal (JSON Lines)

        if not isinstance(value, Decimal):
            raise InvalidInput(f"{name}: expected {expected}, got {shown(value)}")
        return str.__str__(Decimal.__str__(value)).strip()
    return str.__str__(value).strip()


def positive_int(name: str, value: Any) -> int:
    """A positive whole number, from an int or plain ASCII digits (no sign, ``_`` or spaces)."""
    expected = "a positive whole number in digits 0-9"
    if isinstance(value, int) and not isinstance(value, bool):
        number = max(min(int.__int__(value), MAX_INT + 1), -1)  # a huge int is never spelt out
    else:
        typed = _typed(name, value, expected)
        if not _QUANTITY.fullmatch(typed):
            raise InvalidInput(f"{name}: expected {expected}, got {shown(value)}")
        digits = typed.lstrip("0") or "0"
        number = int(digits) if len(digits) <= 10 else MAX_INT + 1
    if number <= 0:
        raise InvalidInput(f"{name}: must be a positive whole number, got "
                           f"{'a negative one' if number < 0 else 0}")
    if number > MAX_INT:
        raise InvalidInput(f"{name}: larger than {MAX_INT}")
    return number


def decimal(name: str, value: Any) -> str:
    """A non-negative amount, stored as the plain numeral typed (ASCII digits, optionally a point
    and a fraction; no sign or exponent), trimmed and without leading zeros: JSON never rounds
    it, ``012.50`` and ``12.50`` are one amount, and ``12.50`` keeps its cents."""
    expected = "an amount in digits 0-9 with an optional decimal point, e.g. 1250.50"
    if isinstance(value, int) and not isinstance(value, bool):
        value = int.__int__(value)
        if value < 0:
            raise InvalidInput(f"{name}: must not be negative")
        if value >= 10**MAX_WHOLE_DIGITS:
            raise InvalidInput(f"{name}: more than {MAX_WHOLE_DIGITS} digits")
        return str(value)
    typed = _typed(name, value, expected)
    match = _AMOUNT.fullmatch(typed)
    if not match:
        raise InvalidInput(f"{name}: expected {expected}, got {shown(value)}")
    whole, fraction = match.group(1).lstrip("0") or "0", match.group(2) or ""
    if len(whole) > MAX_WHOLE_DIGITS or len(fraction) > MAX_FRACTION_DIGITS:
        raise InvalidInput(f"{name}: {shown(value)} has too many digits (at most "
                           f"{MAX_WHOLE_DIGITS} before the point and {MAX_FRACTION_DIGITS} "
                           "after)")
    return f"{whole}.{fraction}" if fraction else whole


def iso_date(name: str, value: Any) -> date:
    """A day: a ``date``, ISO 8601 text naming one, or a ``datetime``'s UTC day (naive means
    UTC), as "today" is the UTC day."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            return datetime.date(value)
        try:
            return datetime.date(value.astimezone(UTC))
        except OverflowError:
            raise InvalidInput(f"{name}: {value!s} falls outside the years 1 to 9999 in "
                               "UTC") from None
    if isinstance(value, date):
        return plain(value)
    text_value = _as_text(value).strip()
    try:
        if _WEEK.fullmatch(text_value):
            raise ValueError("a week, not a day")
        return date.fromisoformat(_calendar_form(text_value))
    except ValueError:
        raise InvalidInput(f"{name}: expected a date as YYYY-MM-DD (or another ISO 8601 form "
                           f"naming a day), got {shown(value)}") from None


def file_path(name: str, value: Any) -> Path | None:
    """A file named as a ``Path`` or as text (None stays None)."""
    if value is None or isinstance(value, Path):
        return value
    if isinstance(value, str) and value:
        return Path(value)
    raise InvalidInput(f"{name}: expected a file path, got {shown(value)}")


def a_file(name: str, value: Any) -> Path:
    """:func:`file_path`, where a file must be named."""
    path = file_path(name, value)
    if path is None:
        raise InvalidInput(f"{name}: expected a file path, got null")
    return path


def moment(name: str, value: Any, *, end_of_day: bool = False) -> datetime:
    """A UTC moment from ``YYYY-MM-DD`` or an ISO 8601 date-time (naive means UTC).

    Text names the span its precision gives, and the moment is the span's start, or with
    ``end_of_day`` (the end of a span asked about) its end: a bare date (``Z`` after it changes
    nothing) is its first or last instant, ``10:30`` its minute's, ``10:30:15`` its second's,
    so a time printed to the second and typed back in takes in that whole second. A time finer
    than a microsecond (what is stored) is cut toward the inside of a span: down for its end,
    up for its start, so that no row before the start is taken in. A date and its time are
    joined by ``T`` or a space; an offset needs a time of day.
    """
    if isinstance(value, datetime):
        parsed = plain(value)
    else:
        text_value = _as_text(value).strip()
        try:
            parsed = _bare_day(text_value.removesuffix("Z").removesuffix("z"), end_of_day)
            if parsed is None:
                parsed = _date_time(text_value, end_of_day)
        except OverflowError:  # a time finer than stored, rounded up past the last moment
            raise InvalidInput(f"{name}: {shown(value)} falls outside the years 1 to 9999 in "
                               "UTC") from None
        except ValueError:
            if _DAY_WITH_OFFSET.fullmatch(text_value):
                raise InvalidInput(f"{name}: {shown(value)} gives an offset without a time of "
                                   "day; an offset needs one (such as 2026-11-27T00:00+09:00)"
                                   ) from None
            raise InvalidInput(
                f"{name}: expected YYYY-MM-DD or an ISO 8601 date-time (a date, T, a time of "
                f"day), got {shown(value)}") from None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise InvalidInput(f"{name}: {value!s} falls outside the years 1 to 9999 in UTC") from None


_WEEK = re.compile(r"[0-9]{4}-?W[0-9]{2}")
_DAY_WITH_OFFSET = re.compile(r"(?:[0-9]{4}-?[0-9]{2}-?[0-9]{2}|[0-9]{4}-?W[0-9]{2}-?[0-9]|"
                              r"[0-9]{4}-?[0-9]{3})[+-][0-9]{2}(?::?[0-9]{2})?")
_ORDINAL = re.compile(r"([0-9]{4})-?([0-9]{3})(?=$|[Tt ])")  # 2026-330, 2026330
# a day (calendar or week form; an ordinal one is rewritten first), then T or a space, then a
# time of day as precise as given
_DATE_TIME = re.compile(r"(?:[0-9]{4}-?[0-9]{2}-?[0-9]{2}|[0-9]{4}-?W[0-9]{2}-?[0-9])[Tt ]"
                        r"[0-9]{2}(?::?([0-9]{2})(?::?([0-9]{2})(?:[.,]([0-9]+))?)?)?"
                        r"(?:[Zz]|[+-][0-9]{2}(?::?[0-9]{2})?)?")
_SPAN = {1: 3_600_000_000, 2: 60_000_000, 3: 1_000_000}  # µs in an hour, a minute, a second


def _calendar_form(text_value: str) -> str:
    """An ISO 8601 ordinal date (year and day of the year) at the start of the text, written as
    the calendar date it names, which Python's ``fromisoformat`` reads; other text as it is."""
    ordinal = _ORDINAL.match(text_value)
    if ordinal is None:
        return text_value
    year, day = int(ordinal[1]), int(ordinal[2])
    try:
        named = date(max(year, 1), 1, 1) + timedelta(days=day - 1)  # year 0 fails below
    except OverflowError:  # past the last day of 9999
        raise ValueError("no such day of the year") from None
    if day < 1 or named.year != year:
        raise ValueError("no such day of the year")
    return named.isoformat() + text_value[ordinal.end():]


def _date_time(text_value: str, end_of_day: bool) -> datetime:
    """A date-time: its span's first instant, or its last (see :func:`moment`)."""
    text_value = _calendar_form(text_value)
    shape = _DATE_TIME.fullmatch(text_value)
    if shape is None:
        raise ValueError("not a date, T and a time of day")
    parsed = datetime.fromisoformat(text_value[:-1] + "+00:00" if text_value[-1] in "Zz"
                                    else text_value)
    minute, second, fraction = shape.groups()
    if fraction is None:
        span = _SPAN[1 + (minute is not None) + (second is not None)]
    else:  # fromisoformat keeps the first six digits
        span = 10 ** max(0, 6 - len(fraction))
        if len(fraction) > 6 and fraction[6:].strip("0") and not end_of_day:
            return parsed + timedelta(microseconds=1)  # past microseconds: up, for a start
    return parsed + timedelta(microseconds=span - 1) if end_of_day else parsed


def _bare_day(text_value: str, end_of_day: bool) -> datetime | None:
    """A date with no time of day, in any ISO 8601 form naming a day (2026-11-26, 20261126,
    2026-W48-4, 2026-330): its first or last instant; None for anything else. A week alone
    names no one day, and is refused."""
    if _WEEK.fullmatch(text_value):
        raise ValueError("a week, not a day")
    if _ORDINAL.fullmatch(text_value):
        text_value = _calendar_form(text_value)
    try:
        day = date.fromisoformat(text_value)
    except ValueError:
        return None
    return datetime.combine(day, time.max if end_of_day else time.min)


@cache
def _assigned_country(code: str) -> bool:
    import pycountry

    return pycountry.countries.get(alpha_2=code) is not None


def country(name: str, value: Any) -> str:
    """An ISO 3166-1 alpha-2 code of an assigned country, upper-cased."""
    code = _as_text(value).strip().upper()
    if len(code) != 2 or not code.isascii() or not code.isalpha():
        raise InvalidInput(f"{name}: {shown(value)} is not an ISO 3166-1 alpha-2 country code")
    if not _assigned_country(code):
        raise InvalidInput(f"{name}: {code} is not an assigned ISO 3166-1 country code")
    return code


def currency(name: str, value: Any) -> str:
    """An ISO 4217 alphabetic currency code, upper-cased."""
    import pycountry

    code = _as_text(value).strip().upper()
    if len(code) != 3 or not code.isascii() or not code.isalpha():
        raise InvalidInput(f"{name}: {shown(value)} is not an ISO 4217 currency code")
    if pycountry.currencies.get(alpha_3=code) is None:
        raise InvalidInput(f"{name}: {code} is not an ISO 4217 currency code")
    return code


def reason(value: str | None) -> str | None:
    """A free-text reason on one line: blank means none; too long or unsafe is malformed."""
    if value is None:
        return None
    cleaned = _encodable("reason", given_text("reason", value)).strip()
    if len(cleaned) > MAX_REASON:
        raise InvalidInput(f"reason: longer than {MAX_REASON} characters ({len(cleaned)})")
    check_safe("reason", cleaned)
    return None if _blank(cleaned) else cleaned  # blank: as if none were given


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


def span(since: Any, until: Any) -> tuple[datetime | None, datetime | None]:
    """Both ends of a span as UTC moments (a bare day: ``since`` from its start, ``until`` to
    its end), in order; either may be None."""
    start = None if since is None else moment("since", since)
    end = None if until is None else moment("until", until, end_of_day=True)
    if start is not None and end is not None and start > end:
        raise InvalidInput(f"--since {start.isoformat()} is after --until {end.isoformat()}")
    return start, end
