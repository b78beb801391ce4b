"""The auditor's half of :class:`workflow.Workflow`: verification, proofs, exports, inquiries."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import closing
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workflow import values
from workflow.clock import as_utc
from workflow.errors import InvalidInput, NotFound

if TYPE_CHECKING:
    from workflow.clock import Clock
    from workflow.database import Database
    from workflow.process import Process

Progress = Callable[[int], None] | None
Moment = datetime | date | str  # naive means UTC; a day (or its text): its start, or its end
# where it ends a span or is the moment a state is rebuilt at


class Auditing:
    db: Database
    process: Process
    clock: Clock

    def verify(self, *, since: Path | str | None = None, pubkey: Path | str | None = None,
               progress: Progress = None, jobs: int | None = None,
               rules: bool = False) -> dict[str, Any]:
        """Recompute the whole log; with ``since``, also prove consistency with a checkpoint;
        with ``rules``, also judge every row again by its process's rules
        (:mod:`workflow.rejudge`: ``rules_judged`` counts the rows).

        ``jobs`` worker processes share the work (default: one per CPU on a big log, none on a
        small one). Raises :class:`workflow.audit.AuditFailure` naming the first bad row.
        """
        from workflow import audit

        since, pubkey = values.file_path("since", since), values.file_path("pubkey", pubkey)
        cp = audit.read_checkpoint(since, pubkey) if since is not None else None
        with self.db.read() as s:
            # workers open the database anew: not possible for a private in-memory one
            target = self.db.url if not self.db.is_sqlite or self.db.path else None
            result = audit.verify(s, self.db.scan, progress, target=target, jobs=jobs,
                                  due_field=self.process.due_field,
                                  admission=self.process.admission())
            result["stamped_ahead"] = audit.stamped_ahead(s, as_utc(self.clock()))
            if cp is not None:
                result["consistency"] = audit.consistent_with(s, cp)
                result["consistency"]["signature_checked"] = pubkey is not None
        if rules:
            from contextlib import closing

            from workflow.checks import judged_from
            from workflow.rejudge import check_rules

            first = judged_from(self.db.scan)
            # closed even when a row fails: the read ends with it
            with closing(self.db.scan.histories(result["rows"])) as histories:
                result["rules_judged"] = check_rules(histories, self.process, first, progress)
        return result

    def checkpoint(self, *, key: Path | str | None = None) -> dict[str, Any]:
        from workflow import audit

        key = values.file_path("key", key)
        with self.db.read() as s:
            return audit.checkpoint(s, as_utc(self.clock()), key)

    def prove(self, ref: str, checkpoint: Path | str, *,
              pubkey: Path | str | None = None) -> dict[str, Any]:
        from workflow import audit

        cp = audit.read_checkpoint(values.a_file("checkpoint", checkpoint),
                                   values.file_path("pubkey", pubkey))
        canonical_ref = self._ref(ref)
        with self.db.read() as s:
            return audit.prove(s, canonical_ref, cp)

    @staticmethod
    def check_proof(bundle: dict[str, Any], *,
                    pubkey: Path | str | None = None) -> dict[str, Any]:
        from workflow import audit

        return audit.check_proof(bundle, values.file_path("pubkey", pubkey))

    def export(self, path: Path | str, fmt: str, *, since: Moment | None = None,
               until: Moment | None = None, progress: Progress = None,
               force: bool = False, key: Path | str | None = None,
               log: str = "history") -> dict[str, Any]:
        """Write the rows of [since, until] to ``path`` and a manifest beside it; an existing
        file is replaced only with ``force``, the database file never. With ``key`` (an
        Ed25519 private key file) the manifest and its checkpoint are signed. ``log`` is the
        history (its Merkle log) or a chained log: ``refusals``, ``policy`` or ``users``
        (see :mod:`workflow.chain_exports`)."""
        from workflow import chain_exports, exports

        log = self._log(log)
        since, until = values.span(since, until)
        output, key = values.a_file("path", path), values.file_path("key", key)
        with self.db.read() as s:
            if log != "history":
                return chain_exports.export(s, self.db.scan, log, output, fmt, since, until,
                                            as_utc(self.clock()), progress,
                                            database=self.db.path, force=force, key=key)
            return exports.export(s, self.db.scan, output, fmt, since, until,
                                  as_utc(self.clock()), progress, database=self.db.path,
                                  force=force, key=key)

    def export_size(self, *, since: Moment | None = None, until: Moment | None = None,
                    log: str = "history") -> int:
        from workflow import audit, chain_exports, exports

        log = self._log(log)
        since, until = values.span(since, until)
        with self.db.read() as s:
            if log != "history":
                count = audit.checkpoint(s, as_utc(self.clock()))
                return chain_exports.size(self.db.scan, log,
                                          count[chain_exports.CHECKPOINT_KEYS[log][0]], since,
                                          until)
            return exports.count(s, since, until)

    @staticmethod
    def _log(log: str) -> str:
        from workflow import chain_exports

        log = values.given_text("log", log).strip()
        return log if log == "history" else chain_exports.check_log(log)

    def check_export(self, path: Path | str, *,
                     pubkey: Path | str | None = None) -> dict[str, Any]:
        """Hold an export against its manifest and this database's log; with ``pubkey``, the
        manifest must be signed with its key."""
        from workflow import chain_exports, exports

        output = values.a_file("path", path)
        if chain_exports.is_chain_manifest(output):
            return chain_exports.check_export(self.db.scan, output,
                                              values.file_path("pubkey", pubkey))
        return exports.check_export(self.db.scan, output, values.file_path("pubkey", pubkey))

    @staticmethod
    def check_export_offline(path: Path | str, *,
                             pubkey: Path | str | None = None) -> dict[str, Any]:
        """Hold an export against its manifest alone, with no database (see
        :func:`workflow.exports.check_export_offline`)."""
        from workflow import chain_exports, exports

        output = values.a_file("path", path)
        if chain_exports.is_chain_manifest(output):
            return chain_exports.check_export_offline(output, values.file_path("pubkey", pubkey))
        return exports.check_export_offline(output, values.file_path("pubkey", pubkey))

    def log(self, *, ref: str | None = None, actor: str | None = None,
            event: str | Sequence[str] | None = None, state: str | None = None,
            since: Moment | None = None, until: Moment | None = None) -> list[dict[str, Any]]:
        """History rows across requests (or of one), oldest first, filtered; ``event`` one
        event or several (rows of any of them)."""
        return list(self.log_rows(ref=ref, actor=actor, event=event, state=state, since=since,
                                  until=until))

    def log_rows(self, *, ref: str | None = None, actor: str | None = None,
                 event: str | Sequence[str] | None = None, state: str | None = None,
                 since: Moment | None = None, until: Moment | None = None
                 ) -> Iterator[dict[str, Any]]:
        """:meth:`log` a row at a time, memory flat however many rows match; the filters are
        checked at once, the rows read as they are asked for."""
        events = None if event is None else self._events(event, self.process.logged_event)
        if state is not None:
            self.process.check_state(state)
        since, until = values.span(since, until)
        canonical_ref = self._ref(ref) if ref is not None else None
        return self.db.scan.history_matching(
            ref=canonical_ref, actor=actor, events=events, state=state, since=since,
            until=until)

    @staticmethod
    def _events(given: str | Sequence[str], check: Callable[[str], str]) -> tuple[str, ...]:
        """One event name or several, each checked (blanks around it ignored); none at all is
        bad input, not "every event"."""
        if isinstance(given, str):
            names = [given]
        elif isinstance(given, list | tuple | set | frozenset):
            names = list(given)
        else:
            raise InvalidInput(f"event: expected an event name or a list of them, got "
                               f"{type(given).__name__}")
        if not names:
            raise InvalidInput("event: name at least one event (or leave the filter out)")
        return tuple(dict.fromkeys(check(values.given_text("event", n).strip()) for n in names))

    def refusals(self, *, actor: str | None = None, since: Moment | None = None,
                 until: Moment | None = None, ref: str | None = None, rule: str | None = None,
                 event: str | Sequence[str] | None = None) -> list[dict[str, Any]]:
        """Refused attempts, oldest first: by ``actor``, in [``since``, ``until``] (a bare day
        its whole day), on ``ref`` (as typed: case and spaces around it do not matter), refused
        by ``rule``, trying ``event`` (one event or several: attempts at any of them)."""
        return list(self.refusals_rows(actor=actor, since=since, until=until, ref=ref, rule=rule,
                                       event=event))

    def refusals_rows(self, *, actor: str | None = None, since: Moment | None = None,
                      until: Moment | None = None, ref: str | None = None,
                      rule: str | None = None, event: str | Sequence[str] | None = None
                      ) -> Iterator[dict[str, Any]]:
        """:meth:`refusals` one at a time, memory flat; the filters are checked at once (an
        event no refusal can name, a span out of order), the rows read as they are asked for.

        A reference no request has is no error: a refused attempt may name one (an unknown
        user's, say). Nor is a rule this process does not know: rows of its earlier versions
        keep theirs."""
        from workflow import refusal_names

        events = None if event is None else self._events(
            event, lambda name: refusal_names.refused_event(self.process, name))
        start, end = values.span(since, until)
        canonical_ref = None if ref is None else values.given_text("ref", ref).strip().upper()
        rule = None if rule is None else values.given_text("rule", rule).strip()
        return self._refusals_read(actor, start, end, canonical_ref, rule, events)

    def _refusals_read(self, actor: str | None, since: datetime | None, until: datetime | None,
                       ref: str | None, rule: str | None, events: tuple[str, ...] | None
                       ) -> Iterator[dict[str, Any]]:
        from workflow import inquiry

        with self.db.read() as s:
            yield from inquiry.refusals(s, actor=actor, since=since, until=until, ref=ref,
                                        rule=rule, events=events)

    def refusal_rules(self) -> list[str]:
        """The rule names a refusal by this program can carry: the process's and the
        engine's (rows of earlier process versions may carry others)."""
        from workflow import refusal_names

        return refusal_names.rules(self.process)

    def report(self, as_of: Moment | None = None) -> dict[str, Any]:
        """Time in each state, decisions per actor and separation-of-duties breaches (each with
        the rule, the earlier rows of the same actor it excludes and why, in words); with
        ``as_of`` (a day: as it ended), as the log stood then, the time in each current state
        counted up to that moment (or up to now, if it is later)."""
        from workflow import inquiry

        now = as_utc(self.clock())
        moment = None if as_of is None else values.moment("as_of", as_of, end_of_day=True)
        return inquiry.report(self.db.scan, self.process,
                              now if moment is None else min(now, moment), until=moment)

    def get_as_of(self, ref: str, moment: Moment) -> dict[str, Any]:
        """The record as its history says it was at ``moment`` (naive means UTC)."""
        from workflow import inquiry

        moment = values.moment("as_of", moment, end_of_day=True)  # a day: as it ended
        canonical_ref = self._ref(ref)
        with closing(self.db.scan.steps(canonical_ref, moment)) as steps:
            found = inquiry.as_of(self.process, next(steps, []), moment)
        if found is None:
            with self.db.read() as s:
                raise NotFound(f"{canonical_ref} did not exist yet at {moment.isoformat()}"
                               f"{inquiry.skew_note(s, canonical_ref, moment)}")
        return found

    def list_as_of(self, moment: Moment, *, state: str | None = None) -> list[dict[str, Any]]:
        """The records as the history says they were at ``moment`` (in ``state``, if given),
        oldest first."""
        return list(self.list_as_of_rows(moment, state=state))

    def list_as_of_rows(self, moment: Moment, *, state: str | None = None
                        ) -> Iterator[dict[str, Any]]:
        """:meth:`list_as_of` a record at a time, memory flat; the arguments are checked at
        once."""
        when = values.moment("as_of", moment, end_of_day=True)
        if state is not None:
            self.process.check_state(state)
        return self._as_of_read(when, state)

    def _as_of_read(self, moment: datetime, state: str | None) -> Iterator[dict[str, Any]]:
        from workflow import inquiry

        for rows in self.db.scan.steps(until=moment):
            found = inquiry.as_of(self.process, rows, moment)
            if found is not None and (state is None or found["state"] == state):
                yield found

    def _ref(self, ref: str) -> str:  # pragma: no cover - provided by Workflow
        """The canonical reference of an existing record, or NotFound."""
        raise NotImplementedError
