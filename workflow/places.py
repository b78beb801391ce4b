"""Each history row held to the users and the policy as they stood at its place in the log.

From revision 0012 on, a user or policy change keeps how many history rows were written before
it (``after_row``). Every writer takes the log head first, so that number places the change
exactly between two rows: a row is then checked to be by a user registered before it and not
disabled before it, with the roles the user held there, and to have consulted exactly the
restrictions the policy held at its place, each judged in force or not on the row's own day.
Rows whose place among the changes is not known (written before the changes kept theirs) are
left to the other checks. Rows come in log order, so the first stamped more than a day before
the row before it is noted on the way, for a warning (a clock set back does that too).
"""

from __future__ import annotations

import bisect
import sys
from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any

from workflow.access import ADMIN
from workflow.clock import CLOCK_SKEW, as_utc
from workflow.errors import stored_json
from workflow.scan import Scanner

Entry = tuple[str, str, str, str | None]  # subject, kind, since, until (ISO 8601 days)


def wrong_places(what: str, changes: Sequence[tuple[Any, ...]], index: int,
                 size: int) -> str | None:
    """What is wrong with the places a log's changes keep (``index``: where a change keeps it):
    once one keeps its place every later one does, in the order of the log, and none is past
    the ``size`` rows the history holds."""
    last: int | None = None
    for change in changes:
        place = change[index]
        if place is None:
            if last is not None:
                return (f"{what} change {change[0]} does not keep its place in the history's "
                        "order, as every change before it does")
            continue
        if not isinstance(place, int) or isinstance(place, bool) or place < 0:
            return f"{what} change {change[0]} keeps a place that is no row count ({place!r})"
        if last is not None and place < last:
            return (f"{what} change {change[0]} comes after history row {place}, before the "
                    f"change ahead of it (after row {last}): the log is out of order")
        if place > size:
            return (f"{what} change {change[0]} comes after history row {place}, but the log "
                    f"holds {size} rows")
        last = place
    return None


class Places:
    """The windows of rows each user may have written, and the policy between changes."""

    def __init__(self, user_changes: Sequence[tuple[Any, ...]],
                 policy_changes: Sequence[tuple[Any, ...]]) -> None:
        # a user change: seq, action, name, roles, active, actor, at, after_row, reason, chain
        # (see Scanner.users). Each user's placed changes, and what each left: (roles, active,
        # when the user was disabled, if not active); and what a user's changes of unknown
        # place left (adding and disabling only: roles, active). Those all come before the
        # first placed one, so by its place
        self.users: dict[Any, tuple[list[int], list[tuple[Any, bool, str | None]]]] = {}
        self.unplaced: dict[Any, tuple[Any, bool]] = {}
        self.first_user_place: int | None = None
        for change in user_changes:
            name, roles, active, place = change[2], change[3], change[4] is True, change[7]
            if place is None:
                self.unplaced[name] = (roles, active)
                continue
            if self.first_user_place is None:
                self.first_user_place = place
            places, states = self.users.setdefault(name, ([], []))
            if states:
                was = states[-1][2]
            elif name in self.unplaced and not self.unplaced[name][1]:
                was = self._disabled_unplaced()
            else:
                was = None
            places.append(place)
            states.append((roles, active, None if active else (was or f"after row {place}")))
        # for each user, the span of rows (after, up to] the last judged lies in, the roles it
        # listed and what is wrong with those: the next row is likely in it
        self._spans: dict[Any, tuple[int, int, Any, str | None]] = {}
        # a policy change: seq, entry id, action, subject, kind, since, until, actor, at,
        # reason, after_row, chain
        entries: dict[Any, Entry] = {}
        unplaced = False  # a change of unknown place: the policy before the first placed
        self.bounds: list[int] = []  # each placed change's after_row, in log order
        self.states: list[dict[Any, Entry]] = []  # the entries after each placed change
        for change in policy_changes:
            entry_id, subject, kind, since, until, place = (change[1], *change[3:7], change[10])
            entries[entry_id] = (subject, kind, since, until)
            if place is None:
                unplaced = True
            else:
                self.bounds.append(place)
                self.states.append(dict(entries))
        # the policy's stand before the rows judged next: the last placed change before them
        # (-1: none; then the policy is unknown where changes of unknown place may follow)
        self._stand, self._unplaced = -1, unplaced
        self._judged: dict[tuple[Any, int], tuple[str | None, str | None]] = {}
        # from the row after the first change that keeps its place on, rows were written by
        # this generation of the program
        placed = [c[7] for c in user_changes if c[7] is not None] + [
            c[10] for c in policy_changes if c[10] is not None]
        self.placed_from = min(placed) + 1 if placed else sys.maxsize
        self.previous: tuple[int, str] = (0, "")  # the row before the next one, and its time
        # the first entry (a row or a change) stamped more than CLOCK_SKEW before one the log
        # holds before it: (what, its row or None, at, before what, its row or None, at); a
        # warning, as a clock set back does it too
        self.behind: list[Any] | None = None
        self._times = _Times(user_changes, policy_changes)
        # the place of the next change not yet taken in, and the latest time of those taken in
        self._next_place, self._latest_at = self._times.next_place, ""

    @classmethod
    def read(cls, scanner: Scanner, intact: Callable[[str, Sequence[tuple[Any, ...]]], bool]
             ) -> Places | None:
        """The places the changes keep; None when none keeps one, or when a log is not
        ``intact`` (its chain broken) or its places are wrong: its own check names that, and
        rows are not judged by what it says meanwhile."""
        with scanner.snapshot() as snapshot:
            users, policy = snapshot.users()[1], snapshot.policy()[1]
        if all(c[7] is None for c in users) and all(c[10] is None for c in policy):
            return None
        for what, changes, index in (("user", users, 7), ("policy", policy, 10)):
            if not intact(what, changes) or wrong_places(what, changes, index, sys.maxsize):
                return None
        return cls(users, policy)

    def wrong(self, seq: int, actor: Any, roles: Any, at: str, consulted: Any) -> str | None:
        """What is wrong with row ``seq`` (by ``actor`` holding ``roles`` at ``at``, ISO 8601
        UTC, consulting the stored text ``consulted``) at its place, if anything; rows come in
        log order (this runs for every row verified: the usual case is kept to a few
        comparisons)."""
        previous, self.previous = self.previous, (seq, at)
        if seq > self._next_place:  # changes are placed before this row: rare
            self._pass_changes(seq, previous)
        if (at < previous[1] or at < self._latest_at) and self.behind is None:
            latest = self._times.latest
            if seq - 1 == previous[0] and _behind(at, previous[1]):
                self.note_behind(f"row {seq}", seq, at, f"row {previous[0]}", *previous)
            elif _behind(at, latest[0]):
                self.note_behind(f"row {seq}", seq, at, latest[1], None, latest[0])
        span = self._spans.get(actor)
        if span is None or not span[0] < seq <= span[1] or span[2] != roles:
            span = self._spans[actor] = self._span(seq, actor, roles)
        if span[3] is not None:
            return span[3]
        if consulted == "{}" or not self.bounds:
            return None  # nothing consulted (a drafting, an edit), or no policy placed
        bounds, stand = self.bounds, self._stand
        if (stand + 1 < len(bounds) and bounds[stand + 1] < seq) or (
                stand >= 0 and bounds[stand] >= seq):  # moved on (or, in a new range, back)
            stand = self._stand = bisect.bisect_left(bounds, seq) - 1
        if stand < 0 and self._unplaced:
            return None  # before every placed change: changes of unknown place may follow it
        key = (consulted, stand)
        judged = self._judged.get(key)
        if judged is None:
            judged = self._judged[key] = _judged_consulted(
                consulted, self.states[stand] if stand >= 0 else {},
                f"after row {bounds[stand]}" if stand >= 0 else "before any change")
        wrong, day = judged
        if wrong is None and day is not None and day != at[:10]:
            return f"it was judged as of {day}, but made on {at[:10]}"
        return wrong

    def _pass_changes(self, seq: int, previous: tuple[int, str]) -> None:
        self._times.pass_changes(seq, previous, self)
        self._next_place, self._latest_at = self._times.next_place, self._times.latest[0]

    def finish(self) -> None:
        """After the log's last row: hold the changes placed after it to the times before."""
        self._pass_changes(sys.maxsize, self.previous)

    def note_behind(self, what: str, seq: int | None, at: str, before: str,
                    before_seq: int | None, before_at: str) -> None:
        if self.behind is None:
            self.behind = [what, seq, at, before, before_seq, before_at]

    def _span(self, seq: int, actor: Any, roles: Any) -> tuple[int, int, Any, str | None]:
        """The rows (after, up to] around ``seq`` that ``actor``'s changes leave alike, and
        what is wrong with a row of theirs there that lists ``roles``."""
        places, states = self.users.get(actor, ([], []))
        at = bisect.bisect_left(places, seq) - 1  # the last of the user's changes before it
        after, upto = (places[at] if at >= 0 else -1,
                       places[at + 1] if at + 1 < len(places) else sys.maxsize)
        if at >= 0:
            held, active, disabled = states[at]
            if not active:
                return after, upto, roles, (f"it is by {actor}, whom the user log disabled "
                                            f"{disabled}")
            where = f"after row {after}"
        elif actor in self.unplaced:  # registered before changes kept places
            held, active = self.unplaced[actor]
            first = self.first_user_place
            if not active and first is not None:  # disabled by the first placed change
                if seq > first:
                    return max(after, first), upto, roles, (
                        f"it is by {actor}, whom the user log disabled "
                        f"{self._disabled_unplaced()}")
                upto = min(upto, first)
            where = "as registered"
        elif places:
            return after, upto, roles, (f"it is by {actor}, whom the user log registers only "
                                        f"after row {places[0]}")
        else:
            return after, upto, roles, None  # no change registers them: the records' check
        return after, upto, roles, _wrong_roles(actor, roles, held, where)

    def _disabled_unplaced(self) -> str:
        return f"by row {self.first_user_place}, before its changes kept their places"

    def admin_at(self, name: Any, place: int) -> bool:
        """Whether ``name`` was an active admin for a change placed after row ``place``: in
        what the user changes before that place left, or what one at that very place made
        (changes of two logs at one place have no order between them)."""
        places, states = self.users.get(name, ([], []))
        at = bisect.bisect_left(places, place) - 1  # the last of the user's before it
        held = [states[at][:2]] if at >= 0 else (
            [self.unplaced[name]] if name in self.unplaced else [])
        held += [state[:2] for on, state in zip(places, states, strict=True) if on == place]
        return any(active and isinstance(roles, list) and ADMIN in roles
                   for roles, active in held)


def _wrong_roles(actor: Any, roles: Any, held: Any, where: str) -> str | None:
    """What is wrong with a row of ``actor``'s listing ``roles`` (as stored), when the user log
    gives them ``held``."""
    try:
        listed = stored_json(roles) if isinstance(roles, str) else roles
        if not isinstance(listed, list):
            raise TypeError("not a list")
        listed = sorted(map(str, listed))
    except (TypeError, ValueError):
        return "its roles are not readable (the row was altered)"
    if isinstance(held, list) and listed == sorted(map(str, held)):
        return None
    holds = ", ".join(map(str, held)) if isinstance(held, list) else "roles that cannot be read"
    return (f"it says {actor} held {', '.join(listed) or 'no role'}, but the user log gives "
            f"{actor} {holds} {where}")


class _Times:
    """The times of the changes that keep their places, for a row's or a change's time to be
    held to those the log holds before it: a row to the latest change placed before it, a
    change to the row at its place and to the change before it in its own log."""

    def __init__(self, user_changes: Sequence[tuple[Any, ...]],
                 policy_changes: Sequence[tuple[Any, ...]]) -> None:
        # (place, the change, its time, the change before it in its own log and its time)
        self.changes: list[tuple[int, str, str, str, str]] = []
        for log, changes, place_at, time_at in (("user", user_changes, 7, 6),
                                                 ("policy", policy_changes, 10, 8)):
            before = ("", "")
            for change in changes:
                place, at = change[place_at], change[time_at]
                if not isinstance(at, str):
                    continue  # not a moment: its chain names it
                label = f"{log} change {change[0]}"
                if isinstance(place, int):
                    self.changes.append((place, label, at, *before))
                before = (label, at)
        self.changes.sort(key=lambda change: change[0])
        self.passed = 0  # the changes placed before the rows judged so far
        self.next_place = self.changes[0][0] if self.changes else sys.maxsize
        self.latest = ("", "")  # the latest time among them, and whose

    def pass_changes(self, seq: int, previous: tuple[int, str], places: Places) -> None:
        """Take in the changes placed before row ``seq``; each is held to the change before it
        in its own log, and, where the row at its place is the one just judged, to that row."""
        changes = self.changes
        while self.passed < len(changes) and changes[self.passed][0] < seq:
            place, label, at, before, before_at = changes[self.passed]
            self.passed += 1
            if before and _behind(at, before_at):
                places.note_behind(label, None, at, before, None, before_at)
            if place == previous[0] and place and _behind(at, previous[1]):
                places.note_behind(label, None, at, f"row {place}", place, previous[1])
            if _later(at, self.latest[0]):
                self.latest = (at, label)
        self.next_place = changes[self.passed][0] if self.passed < len(changes) else sys.maxsize


def _later(at: str, than: str) -> bool:
    if not than:
        return True
    try:
        return as_utc(datetime.fromisoformat(at)) > as_utc(datetime.fromisoformat(than))
    except (TypeError, ValueError):
        return False


def _behind(at: str, before: str) -> bool:
    """``at`` is stamped before ``before`` (ISO 8601 texts) by more than writers' clocks may
    disagree."""
    try:
        return as_utc(datetime.fromisoformat(at)) + CLOCK_SKEW < as_utc(
            datetime.fromisoformat(before))
    except (TypeError, ValueError):
        return False  # not a moment: the row's leaf names it
    except OverflowError:  # ``at`` within a day of the calendar's end: behind nothing
        return False


def _judged_consulted(consulted: Any, entries: dict[Any, Entry], where: str
                      ) -> tuple[str | None, str | None]:
    """What is wrong with what a row says it consulted, given the policy's ``entries`` at its
    place, and the day it was judged as of."""
    try:
        told = stored_json(consulted) if isinstance(consulted, str) else consulted
        if told == {}:
            return None, None  # nothing consulted, spelled otherwise (as older versions did)
        day = date.fromisoformat(told["as_of"]).isoformat()
        listed = told["restrictions"]
        if not isinstance(listed, dict):
            raise TypeError("not by subject")
    except (TypeError, ValueError, KeyError):
        return "what it consulted is not readable (the row was altered)", None
    for subject, seen in sorted(listed.items()):
        held = [{"kind": kind, "since": since, "until": until,
                 "in_force": since <= day and (until is None or day < until)}
                for _, (on, kind, since, until) in sorted(entries.items()) if on == subject]
        if seen != held:
            return (f"the restrictions on {subject} it says it consulted on {day} are not "
                    f"those the policy log held at its place ({where}: {_described(held)})",
                    day)
    return None, day


def _described(entries: list[dict[str, Any]]) -> str:
    if not entries:
        return "none"
    return "; ".join(
        f"{e['kind']} since {e['since']}" + (f" until {e['until']}" if e["until"] else "")
        + (" in force" if e["in_force"] else "") for e in entries)
