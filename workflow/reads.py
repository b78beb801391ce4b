"""The reading half of :class:`workflow.Workflow`: records, their events and their history.

Reads run on the fast path too (:mod:`workflow.fastpath`, :mod:`workflow.scan`), so that a
command like `request show` or `history` never loads the ORM.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import date
from typing import TYPE_CHECKING, Any

from workflow import values, views
from workflow.clock import as_utc, iso
from workflow.errors import NotFound, Refused, UnknownUser

if TYPE_CHECKING:
    from workflow import reassess
    from workflow.clock import Clock
    from workflow.database import Database
    from workflow.fastpath import RecordRow, Tx
    from workflow.machine import Machinery
    from workflow.process import Process


class Reading:
    db: Database
    process: Process
    clock: Clock
    machinery: Machinery

    def _record(self, tx: Tx, ref: str) -> RecordRow:
        record = tx.record(values.given_text("ref", ref).strip().upper())
        if record is None:
            raise NotFound(f"unknown reference {values.quoted(ref)}")
        return record

    def _ref(self, ref: str) -> str:
        """The canonical reference of an existing record, or NotFound."""
        with self.db.fast.reading() as tx:
            return self._record(tx, ref).ref

    @contextmanager
    def _recording(self, actor: str | None) -> Iterator[None]:
        """Who asks to read refused (a disabled user, a login naming another): the attempt is
        recorded, as every refused attempt is, once the read has ended."""
        try:
            yield
        except Refused as refusal:
            if actor is not None:
                self._log_refusal(actor, None, refusal.event, {}, refusal)  # type: ignore[attr-defined]
            raise
        except UnknownUser as unknown:
            if actor is not None:
                self._log_refusal(actor, None, "access", {}, unknown)  # type: ignore[attr-defined]
            raise

    def require_user(self, actor: str) -> dict[str, Any]:
        """The registered, active user ``actor`` (NotFound or Refused otherwise)."""
        with self._recording(actor), self.db.fast.reading() as tx:
            user = self._actor(tx, actor)  # type: ignore[attr-defined]
            return {"name": user.name, "roles": list(user.roles), "active": user.active}

    def get(self, ref: str, *, actor: str | None = None) -> dict[str, Any]:
        """The record as a dict; with ``actor``, also every event and whether they may fire it."""
        with self._recording(actor), self.db.fast.reading() as tx:
            user = self._actor(tx, actor) if actor is not None else None  # type: ignore[attr-defined]
            record = self._record(tx, ref)
            out = views.record_dict(self.process, record)
            if user is None:
                return out
            ctx = self._context(record, user, as_utc(self.clock()).date(),  # type: ignore[attr-defined]
                                tx.policy())
        out["events"] = []
        for event in self.process.events:
            refusal = self._refusal(event, ctx, with_args=False)  # type: ignore[attr-defined]
            out["events"].append({
                "event": event.name,
                "allowed": refusal is None,
                "reason": None if refusal is None else f"{refusal.reason} [rule: {refusal.rule}]",
            })
        return out

    def list(self, *, state: str | None = None) -> list[dict[str, Any]]:
        """Records, oldest first, optionally only those in ``state``."""
        return list(self.list_rows(state=state))

    def list_rows(self, *, state: str | None = None) -> Iterator[dict[str, Any]]:
        """:meth:`list` a record at a time, memory flat; ``state`` is checked at once."""
        states = None if state is None else (self.process.check_state(state),)
        return self._records_read(states)

    def _records_read(self, states: tuple[str, ...] | None) -> Iterator[dict[str, Any]]:
        with self.db.fast.reading() as tx:
            for record in tx.each_record(states):
                yield views.record_dict(self.process, record)

    def due(self, on: date | str | None = None) -> list[dict[str, Any]]:
        """Records waiting in the process's due state whose due date has come by ``on``."""
        day = as_utc(self.clock()).date() if on is None else values.iso_date("on", on)
        if self.process.due_state is None:
            return []
        with self.db.fast.reading() as tx:
            rows = tx.records("WHERE state = ? AND due_on <= ?",
                              (self.process.due_state, tx.day_in(day)), order="due_on, id")
            return [views.record_dict(self.process, r) for r in rows]

    def actionable(self, actor: str, event: str | None = None) -> list[dict[str, Any]]:
        """The records ``actor`` may act on now (with ``event``: by firing it), oldest first:
        each with the events its state, their roles and every rule that needs no reason or
        argument allow (those that do are checked when the event is fired)."""
        return list(self.actionable_rows(actor, event))

    def actionable_rows(self, actor: str, event: str | None = None
                        ) -> Iterator[dict[str, Any]]:
        """:meth:`actionable` a record at a time, memory flat; the event and who asks are
        checked at once (a refusal recorded as for any read)."""
        wanted = None if event is None else self.process.event(event).name
        self.require_user(actor)
        return self._actionable_read(actor, wanted)

    def _actionable_read(self, actor: str, wanted: str | None) -> Iterator[dict[str, Any]]:
        with self._recording(actor), self.db.fast.reading() as tx:
            user = self._actor(tx, actor)  # type: ignore[attr-defined]
            events = [e for e in self.process.events if wanted in (None, e.name)
                      and any(p.role in user.role_set for p in e.permits)]
            states = tuple(s for s in self.process.states if any(s in e.sources for e in events))
            if not states:
                return
            today, restrictions = as_utc(self.clock()).date(), tx.policy()
            for record in tx.each_record(states):
                ctx = self._context(record, user, today, restrictions)  # type: ignore[attr-defined]
                allowed = [e.name for e in events
                           if self._refusal(e, ctx, with_args=False) is None]  # type: ignore[attr-defined]
                if allowed:
                    yield {**views.record_dict(self.process, record), "events": allowed}

    def affected(self, on: date | str | None = None,
                 subjects: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """The decisions the restrictions in force on ``on`` (default: today, UTC) touch, see
        :mod:`workflow.reassess`: those granted (with who granted them and when: the last
        firing of the event) and those pending; with ``subjects``, only restrictions on them."""
        return list(self.affected_rows(on, subjects))

    def affected_rows(self, on: date | str | None = None,
                      subjects: Iterable[str] | None = None) -> Iterator[dict[str, Any]]:
        """:meth:`affected` a finding at a time, memory flat; the day and the subjects are
        checked at once."""
        day = as_utc(self.clock()).date() if on is None else values.iso_date("on", on)
        if isinstance(subjects, str):
            subjects = [subjects]  # one subject, not its letters
        wanted = None if subjects is None else frozenset(
            self.process.check_policy_subject(s) for s in subjects)
        return self._affected_read(day, wanted)

    def touched(self, subject: str, since: date | str) -> tuple[date, int]:
        """What a restriction on ``subject`` from ``since`` on touches: the day it is judged on
        (its first, or today once that has passed) and how many granted or pending events
        :meth:`affected` lists for the subject then."""
        day = max(values.iso_date("since", since), as_utc(self.clock()).date())
        wanted = frozenset([self.process.check_policy_subject(subject)])
        with self.db.fast.reading() as tx:
            return day, sum(1 for _ in self._findings(tx, day, wanted))

    def _findings(self, tx: Tx, day: date, wanted: frozenset[str] | None
                  ) -> Iterator[reassess.Finding]:
        from workflow import reassess

        return reassess.findings(self.process, self.machinery, tx.each_record(), tx.policy(),
                                 day, wanted)

    def _affected_read(self, day: date, wanted: frozenset[str] | None
                       ) -> Iterator[dict[str, Any]]:
        from workflow import policy, reassess

        key = self.process.policy_subject
        with self.db.fast.reading() as tx:
            for found in self._findings(tx, day, wanted):
                granted = (tx.last_firing(found.record_id, found.event)
                           if found.standing == reassess.GRANTED else None)
                yield {
                    "ref": found.ref, "state": found.state, "standing": found.standing,
                    "event": found.event, "rule": found.rule, "reason": found.reason,
                    "granted_by": None if granted is None else granted[0],
                    "granted_at": None if granted is None else iso(granted[1]),
                    "restrictions": [policy.entry_dict(e, key) for e in found.restrictions],
                }

    def history(self, ref: str) -> list[dict[str, Any]]:
        """The record's history rows, oldest first."""
        return list(self.db.scan.history_matching(ref=self._ref(ref)))

    def path(self, ref: str) -> list[dict[str, Any]]:
        """The transitions a record has taken, oldest first (for marking it on a diagram)."""
        return [
            {"event": h["event"], "from": h["from"], "to": h["to"], "actor": h["actor"],
             "at": h["at"]}
            for h in self.history(ref)
        ]
