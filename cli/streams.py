"""The standard streams as the program finds them: closed, or in an encoding short of UTF-8.

Python leaves a stream it was started without (``>&-``) as None, and click then prints nothing
without a word: a write's result (a new reference) would be lost with exit code 0. Closed
standard output is made a stream every write to fails, so the command ends as on a full disk,
one line and exit code 1 (saying a committed change is applied); closed standard error just
takes the messages away. Output in an encoding that cannot hold every character (a Windows
console, ``PYTHONIOENCODING=latin-1``) writes the others as escapes, and JSON as ASCII, instead
of failing after the change was made.
"""

from __future__ import annotations

import codecs
import errno
import io
import os
import sys


class ClosedOutput(io.TextIOBase):
    """Standard output when the program was started without one."""

    encoding = "utf-8"
    errors = "strict"

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        raise OSError(errno.EBADF, "standard output is closed")


def prepare() -> None:
    """The standard streams made fit for the program, as the module says."""
    if sys.stderr is None:
        sys.stderr = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115 - for the program's life
    if sys.stdout is None:
        sys.stdout = ClosedOutput()
    elif not utf8(sys.stdout):
        reconfigure = getattr(sys.stdout, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")


def utf8(stream: object) -> bool:
    """Whether ``stream`` writes UTF-8 (a stream that says nothing of it is taken to)."""
    encoding = getattr(stream, "encoding", None) or "utf-8"
    try:
        return codecs.lookup(encoding).name == "utf-8"
    except LookupError:
        return False
