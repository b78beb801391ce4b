"""Ctrl-C and commits: an interrupt may stop a command until its change is committed, not after.

A command-line program runs each command inside :func:`held`. SIGINT then raises
KeyboardInterrupt as usual while nothing is committed; from the moment a COMMIT is sent until the
next write transaction begins it is held back, and raised when that transaction begins (or told
to the program when the command ends). So a change that was committed is never reported as
interrupted, and a second transaction is still stopped before it starts. SIGTERM (``timeout``, a
service manager, ``docker stop``) is handled the same way, raising :class:`Terminated`. Outside
:func:`held` (a program using the library) nothing here touches signals.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any


class Terminated(KeyboardInterrupt):
    """SIGTERM, which stops a command as Ctrl-C does."""


SIGNALS = (signal.SIGINT, signal.SIGTERM)


def stop(signum: int) -> KeyboardInterrupt:
    """What a stop by signal ``signum`` raises."""
    return Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()


@dataclass
class Held:
    committed: bool = False  # a COMMIT went through since the last write transaction began
    pressed: int = 0  # the signal (Ctrl-C, SIGTERM) that came meanwhile, held back
    whole: bool = False  # a command that must not stop half way (see as_one)
    kept: bool = False  # a COMMIT went through during the command: an interrupt leaves it

    def _on_interrupt(self, signum: int, frame: Any) -> None:
        if self.committed:
            self.pressed = self.pressed or signum
            return
        raise stop(signum)


_held: Held | None = None
_ending = False  # the program exits once the command is over (see ending_the_program)


def ending_the_program() -> None:
    """The program ends with its command: :func:`held` then leaves Ctrl-C (and SIGTERM)
    ignored rather than restoring it, so that one pressed while the program winds down (the
    output written, the connections closing) cannot kill it with nothing said."""
    global _ending
    _ending = True


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextmanager
def held() -> Iterator[Held]:
    """SIGINT and SIGTERM handled as above for the duration, in the main thread, each on its
    own: Ctrl-C where it stops the program at all (ignored, as a shell starts a job in the
    background, it stays ignored), SIGTERM where it would kill the program (one another
    handler has, or ignored, is left so)."""
    global _held
    state = Held()
    before: dict[int, Any] = {}
    if _main_thread():
        sigint = signal.getsignal(signal.SIGINT)
        if sigint is not None and sigint is not signal.SIG_IGN:  # None: not set from Python
            before[signal.SIGINT] = sigint
        if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
            before[signal.SIGTERM] = signal.SIG_DFL
    if not before:
        yield state
        return
    for signum in before:
        signal.signal(signum, state._on_interrupt)
    _held = state
    try:
        yield state
    finally:
        _held = None
        for signum, handler in before.items():
            signal.signal(signum, signal.SIG_IGN if _ending else handler)


@contextmanager
def as_one() -> Iterator[None]:
    """A command of several transactions that must not stop half way (a story told from its
    start): once its first change is committed, Ctrl-C is held back until its end."""
    state = _held
    if state is None:
        yield
        return
    state.whole = True
    try:
        yield
    finally:
        state.whole = False


_UNGUARDED = nullcontext()


def committing() -> AbstractContextManager[None]:
    """Around a COMMIT: SIGINT and SIGTERM are blocked until it is known whether the commit
    went through, so an interrupt arriving meanwhile finds the change either not made or made
    and marked so.
    Outside :func:`held`, nothing to do (and nothing made: this is every write's path)."""
    state = _held
    if state is None or not _main_thread() or not hasattr(signal, "pthread_sigmask"):
        return _UNGUARDED
    return _guarded(state)


@contextmanager
def _guarded(state: Held) -> Iterator[None]:
    signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)
    try:
        yield
        state.committed = state.kept = True
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, SIGNALS)


def beginning() -> None:
    """Before a write transaction begins: an interrupt held back since the last commit stops the
    command here, with nothing of this transaction done."""
    state = _held
    if state is not None and state.committed and not state.whole:
        state.committed = False
        if state.pressed:
            signum, state.pressed = state.pressed, 0
            raise stop(signum)
