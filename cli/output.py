"""Rendering: data to stdout (JSON or a plain table), messages to stderr."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import click

from cli import streams
from workflow.values import UNSAFE

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")


def on_terminal() -> bool:
    """Whether messages reach a person at a terminal (progress is for people)."""
    return sys.stderr.isatty()


@contextmanager
def progress_bar(total: int, label: str) -> Iterator[Callable[[int], None] | None]:
    """A progress bar on stderr when it is a terminal and the work is long; nothing
    otherwise."""
    if not on_terminal() or total < 10_000:
        yield None
        return
    with click.progressbar(length=total, label=label, file=sys.stderr) as bar:
        yield bar.update


CHUNK = 1 << 16  # the size of a pipe's buffer


def emit_json(data: Any) -> None:
    """The JSON document on stdout, a pipe's buffer at a time: written whole in one go, a
    document longer than the pipe holds would be cut short silently when its reader goes away
    (the rest of a write the pipe refused half way is dropped); a piece at a time, the next
    piece fails, and the command says so."""
    text = json.dumps(data, indent=2, ensure_ascii=not streams.utf8(sys.stdout)) + "\n"
    for start in range(0, len(text), CHUNK):
        click.echo(text[start:start + CHUNK], nl=False)


@contextmanager
def streamed() -> Iterator[Callable[[str], None]]:
    """A writer to stdout that holds text back until a pipe's buffer of it has come, then
    sends it a buffer at a time (see :func:`emit_json`). What is held back when the work fails
    is dropped: output short of a buffer then leaves stdout empty, as when it is printed whole
    at the end."""
    held: list[str] = []
    size = 0

    def write(text: str) -> None:
        nonlocal size
        held.append(text)
        size += len(text)
        if size >= CHUNK:
            whole = "".join(held)
            cut = len(whole) - len(whole) % CHUNK
            for start in range(0, cut, CHUNK):
                click.echo(whole[start:start + CHUNK], nl=False)
            held[:] = [whole[cut:]]
            size = len(whole) - cut

    yield write
    rest = "".join(held)
    for start in range(0, len(rest), CHUNK):
        click.echo(rest[start:start + CHUNK], nl=False)


def emit_json_items(items: Iterable[Any]) -> int:
    """A JSON list printed item by item, exactly as :func:`emit_json` prints the list whole,
    with memory flat however long it is; returns how many items it held."""
    count = 0
    ascii_only = not streams.utf8(sys.stdout)
    with streamed() as write:
        for item in items:
            # JSON text holds no raw line break: indenting each line nests the item in the list
            text = json.dumps(item, indent=2, ensure_ascii=ascii_only).replace("\n", "\n  ")
            write(("[\n  " if count == 0 else ",\n  ") + text)
            count += 1
        write("[]\n" if count == 0 else "\n]\n")
    return count


def say(message: str) -> None:
    """A message for the person, not data: goes to stderr."""
    click.echo(message, err=True)


def counted(number: int, noun: str, plural: str | None = None) -> str:
    """``1 request``, ``2 requests``."""
    return f"{number} {noun if number == 1 else plural or noun + 's'}"


def printable(value: Any) -> str:
    """``value`` as one line of text: ``-`` for nothing, and every character text fields refuse
    escaped as ``\\uXXXX``, so a value stored before they were refused can neither start a line
    of its own nor steer the terminal."""
    if value is None:
        return "-"
    return UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04X}", str(value))


def _cell(value: Any) -> str:
    if isinstance(value, list | tuple):
        return printable(",".join(str(v) for v in value))
    if isinstance(value, dict):
        return printable(json.dumps(value, ensure_ascii=False)) if value else "-"
    return printable(value)


def table(rows: Iterable[dict[str, Any]], columns: Sequence[str], empty: str, *,
          within: bool = False) -> int:
    """Rows under their column names; none: ``empty`` said on stderr, or on stdout ``within`` a
    report whose headings are there too. Only the cells are kept while ``rows`` is read (the
    widths need them all), not the rows. Returns how many rows there were."""
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    if not cells:
        click.echo(empty, err=not within)
        return 0
    widths = [max(len(c), *(_width(r[i]) for r in cells)) for i, c in enumerate(columns)]
    with streamed() as write:
        write("  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()
              + "\n")
        for r in cells:
            write("  ".join(_pad(v, w) for v, w in zip(r, widths, strict=True)).rstrip() + "\n")
    return len(cells)


def _width(text: str) -> int:
    """The columns a cell takes on a terminal: a wide (CJK) character two, a combining mark
    none."""
    if text.isascii():
        return len(text)
    from wcwidth import wcswidth

    width = wcswidth(text)
    return width if width >= 0 else len(text)


def _pad(text: str, width: int) -> str:
    return text + " " * (width - _width(text))


def fields(pairs: Sequence[tuple[str, Any]]) -> None:
    width = max(len(k) for k, _ in pairs)
    for key, value in pairs:
        click.echo(f"{key.ljust(width)}  {_cell(value)}")
