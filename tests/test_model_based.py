"""Random sequences of actions against a small pure-Python model of the transfer process.

The model (written here from DOMAIN.md and README.md, independently of ``states/``) says what
each action must do: the new state and fields, or which rule refuses it. After every step the
database must agree with the model: same state, version, decision date, third country and
number of history rows for every request. Runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from tests.conftest import CAST, PATRIOT, PG_ENV, FakeClock, _postgres_url
from tests.samples import DOMAIN_TABLE
from workflow import Workflow
from workflow.errors import InvalidInput, NotFound, Refused

USERS: dict[str, tuple[str, ...]] = {"admin": ("admin",), **{k: tuple(v) for k, v in
                                                             CAST.items()}}
ACTORS = sorted(USERS)
FINAL = ("approved", "denied", "withdrawn")

TRANSITIONS = DOMAIN_TABLE  # event -> (source states, destination)
EVENTS = sorted(TRANSITIONS)
ARGS = {"request_third_country": {"country", "decision_date"}, "defer": {"decision_date"}}
REQUIRED_FOR_SUBMIT = ("item", "quantity", "recipient", "end_user", "manufacturer", "licensor",
                       "licensor_country", "consent_instrument")
SEEDED = [("KP", "embargo", date(2006, 10, 14)), ("UA", "in-combat", date(2022, 2, 24)),
          ("RU", "in-combat", date(2022, 2, 24)), ("IL", "in-combat", date(2023, 10, 7))]

VARIANTS: dict[str, dict[str, Any]] = {
    "patriot": dict(PATRIOT),
    "no-consent": {k: v for k, v in PATRIOT.items() if k != "consent_instrument"},
    "other-recipient": {**PATRIOT, "recipient": "GB"},
    "restricted-licensor": {**PATRIOT, "recipient": "UA", "licensor_country": "UA"},
}
EDITS = [("consent_instrument", "MDAA"), ("recipient", "US"), ("recipient", "GB"),
         ("recipient", "PL"), ("licensor_country", "US"), ("licensor_country", "PL"),
         ("quantity", 16), ("quantity", 3), ("note", "checked")]
REASONS = [None, "", "   ", "NSC decided", "x" * 2001]
COUNTRIES = [None, "PL", "DE", "GB", "US", "JP", "UA", "KP", "pl"]
VARIANT_CHOICES = ["patriot"] * 5 + ["no-consent", "other-recipient", "restricted-licensor"]
FORWARD = ("submit", "approve_for_us", "request_third_country", "approve")
ACTIONS = (["fire_plausible"] * 8 + ["fire_anything"] * 2 + ["create"] * 2 + ["move_clock"] * 2
           + ["edit", "preview", "restrict", "end_restriction", "unknown_ref"])
SEEN: Counter[str] = Counter()  # what the runs exercised: "event -> state" or "event: rule"


@dataclass
class Entry:
    subject: str
    kind: str
    since: date
    until: date | None = None

    def in_force(self, day: date) -> bool:
        return self.since <= day and (self.until is None or day < self.until)


@dataclass
class Rec:
    ref: str
    drafter: str
    data: dict[str, Any]
    state: str = "drafted"
    version: int = 1
    rows: int = 1
    participants: dict[str, list[str]] = field(default_factory=dict)


class Model:
    """What the process must do, from the documented table alone."""

    def __init__(self, today: date) -> None:
        self.today = today
        self.records: dict[str, Rec] = {}
        self.counters: dict[int, int] = {}
        self.policy = [Entry(s, k, since) for s, k, since in SEEDED]

    def restricted(self, country: str | None) -> bool:
        return bool(country) and any(e.subject == country and e.in_force(self.today)
                                     for e in self.policy)

    @staticmethod
    def permitted(event: str, actor: str, rec: Rec) -> bool:
        roles = USERS[actor]
        own = "drafter" in roles and actor == rec.drafter
        return {
            "submit": own or "admin" in roles,
            "return": "reviewer" in roles or "approver" in roles,
            "approve_for_us": "approver" in roles,
            "deny": "approver" in roles,
            "withdraw": own or "admin" in roles,
            "request_third_country": own or "approver" in roles or "admin" in roles,
            "defer": "approver" in roles,
            "approve": "approver" in roles,
        }[event]

    def refusal(self, rec: Rec, event: str, actor: str, reason: str | None,
                args: dict[str, Any], *, with_args: bool = True) -> str | None:
        """The rule that refuses the firing, or None; ``with_args`` False previews it."""
        sources, _ = TRANSITIONS[event]
        if rec.state not in sources:
            return "state"
        if not self.permitted(event, actor, rec):
            return "role"
        data, submitters = rec.data, rec.participants.get("submit", [])
        decided_by_drafter_or_submitter = actor == rec.drafter or actor in submitters
        checks: list[tuple[str, bool, bool]] = []  # (rule, uses args, fails)
        if event == "submit":
            checks = [
                ("required-fields", False,
                 any(data.get(n) in (None, "") for n in REQUIRED_FOR_SUBMIT)),
                ("recipient-is-licensor-country", False,
                 data.get("recipient") != data.get("licensor_country")),
                ("recipient-unrestricted", False, self.restricted(data.get("recipient"))),
            ]
        elif event == "return":
            checks = [("reason-required", True, not reason)]
        elif event == "approve_for_us":
            checks = [("separation-of-duties", False, decided_by_drafter_or_submitter),
                      ("recipient-unrestricted", False, self.restricted(data.get("recipient")))]
        elif event == "deny":
            checks = [("reason-required", True, not reason),
                      ("separation-of-duties", False, decided_by_drafter_or_submitter)]
        elif event == "withdraw":
            checks = [("reason-required", True, not reason)]
        elif event == "request_third_country":
            country, decision = args.get("country"), args.get("decision_date")
            checks = [
                ("third-country-named", True,
                 not country or country == data.get("recipient") or country == "JP"),
                ("third-country-unrestricted", True, self.restricted(country)),
                ("decision-in-later-year", True,
                 decision is not None and decision.year <= self.today.year),
            ]
        elif event == "defer":
            decision = args.get("decision_date")
            current = data.get("decision_date")
            checks = [
                ("reason-required", True, not reason),
                ("later-date-exists", False, current == date.max.isoformat()),
                ("decision-date-later", True, decision is None or (
                    current is not None and decision <= date.fromisoformat(current))),
            ]
        elif event == "approve":
            decision = data.get("decision_date")
            checks = [
                ("decision-date-reached", False,
                 decision is None or self.today < date.fromisoformat(decision)),
                ("third-country-unrestricted", False, self.restricted(data.get("third_country"))),
                ("separation-of-duties", False, actor == rec.drafter or actor in
                 rec.participants.get("request_third_country", [])),
            ]
        for name, uses_args, fails in checks:
            if uses_args and not with_args:
                continue
            if fails:
                return name
        return None

    def apply(self, rec: Rec, event: str, actor: str, args: dict[str, Any]) -> None:
        rec.state = TRANSITIONS[event][1]
        if event == "request_third_country":
            rec.data["third_country"] = args["country"]
        if event in ("request_third_country", "defer"):
            rec.data["decision_date"] = args["decision_date"].isoformat()
        fired = rec.participants.setdefault(event, [])
        if actor not in fired:
            fired.append(actor)
        rec.version += 1
        rec.rows += 1


class TransferMachine(RuleBasedStateMachine):
    """Drives a fresh database and the model side by side; subclassed per backend."""

    backend = "sqlite"

    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock()
        self.model = Model(self.clock.now.date())
        self._tmp: str | None = None
        self._schema: str | None = None
        if self.backend == "sqlite":
            self._tmp = tempfile.mkdtemp(prefix="wf-model-")
            target = str(Path(self._tmp) / "workflow.db")
        else:
            import psycopg

            base = _postgres_url()
            assert base
            self._base = base
            self._schema = f"m_{uuid.uuid4().hex[:12]}"
            with psycopg.connect(base, autocommit=True) as conn:
                conn.execute(f"CREATE SCHEMA {self._schema}")
            sep = "&" if "?" in base else "?"
            target = f"{base}{sep}options=-csearch_path%3D{self._schema}"
        self.wf = Workflow(target, clock=self.clock, create=True)

    @initialize()
    def set_up(self) -> None:
        self.wf.init("admin", direct_schema=True)
        for name, roles in CAST.items():
            self.wf.add_user(name, roles, actor="admin")

    def teardown(self) -> None:
        try:
            if self.model.records:
                result = self.wf.verify()
                assert result["records"] == len(self.model.records)
                assert result["rows"] == sum(r.rows for r in self.model.records.values())
        finally:
            self.wf.close()
            if self._tmp:
                shutil.rmtree(self._tmp, ignore_errors=True)
            if self._schema:
                import psycopg

                with psycopg.connect(self._base, autocommit=True) as conn:
                    conn.execute(f"DROP SCHEMA {self._schema} CASCADE")

    # -- one step: an action drawn by weight (Hypothesis has no rule weights) -------------------

    @rule(data=st.data(), action=st.sampled_from(ACTIONS))
    def act(self, data: st.DataObject, action: str) -> None:
        if action in ("fire_anything", "fire_plausible", "edit", "preview") and not (
                self.model.records):
            action = "create"
        if action == "fire_plausible" and all(
                r.state in FINAL for r in self.model.records.values()):
            action = "create"
        getattr(self, action)(data)

    # -- the clock and the policy ---------------------------------------------------------------

    def move_clock(self, data: st.DataObject) -> None:
        days = data.draw(st.sampled_from([0, 1, 7, 30, 45, 200, 400]), label="days")
        self.clock.advance(days=days, hours=data.draw(st.integers(0, 23), label="hours"))
        self.model.today = self.clock.now.date()

    def restrict(self, data: st.DataObject) -> None:
        country = data.draw(st.sampled_from(["PL", "DE", "GB", "PL", "DE", "US"]),
                            label="country")
        kind = data.draw(st.sampled_from(["embargo", "in-combat"]), label="kind")
        since = self.model.today + timedelta(days=data.draw(st.integers(-30, 30), label="offset"))
        # in force then or later; one called off before it started (ended on or before its
        # first day) blocks nothing
        clash = any(e.subject == country and e.kind == kind
                    and (e.until is None or e.until > max(since, e.since))
                    for e in self.model.policy)
        if clash:
            with pytest.raises(Refused) as info:
                self.wf.restrict(country, kind, since, reason="new facts", actor="admin")
            assert info.value.rule == "already-restricted"
            return
        self.wf.restrict(country, kind, since, reason="new facts", actor="admin")
        self.model.policy.append(Entry(country, kind, since))
        SEEN["policy add"] += 1

    def end_restriction(self, data: st.DataObject) -> None:
        country = data.draw(st.sampled_from(["PL", "DE", "GB", "US", "UA"]), label="country")
        on = self.model.today + timedelta(days=data.draw(st.integers(-30, 30), label="offset"))
        ending = [e for e in self.model.policy if e.subject == country  # in force on `on`,
                  and (e.until is None or e.until > on)  # or later; one called off before its
                  and not (e.until is not None and e.until <= e.since)]  # start ends no more
        if not ending:
            with pytest.raises(NotFound):
                self.wf.end_restriction(country, on, reason="facts changed", actor="admin")
            return
        if any(on <= e.since <= self.model.today for e in ending):  # in force: not undone
            with pytest.raises(Refused) as info:
                self.wf.end_restriction(country, on, reason="facts changed", actor="admin")
            assert info.value.rule == "end-before-start"
            SEEN["policy end refused"] += 1
            return
        ended = self.wf.end_restriction(country, on, reason="facts changed", actor="admin")
        assert len(ended) == len(ending)
        for entry in ending:
            entry.until = on
        SEEN["policy end"] += 1

    # -- records --------------------------------------------------------------------------------

    def create(self, data: st.DataObject) -> None:
        actor = data.draw(st.sampled_from(ACTORS), label="actor")
        variant = data.draw(st.sampled_from(VARIANT_CHOICES), label="variant")
        fields = dict(VARIANTS[variant])
        if "drafter" not in USERS[actor]:
            with pytest.raises(Refused) as info:
                self.wf.create(actor=actor, **fields)
            assert info.value.rule == "role"
            return
        year = self.clock.now.year
        number = self.model.counters[year] = self.model.counters.get(year, 0) + 1
        ref = self.wf.create(actor=actor, **fields)
        assert ref == f"TR-{year}-{number:04d}"
        self.model.records[ref] = Rec(ref, actor, fields)
        SEEN["create"] += 1

    def _pick(self, data: st.DataObject, refs: list[str] | None = None) -> Rec:
        return self.model.records[data.draw(st.sampled_from(
            sorted(self.model.records) if refs is None else refs), label="ref")]

    def edit(self, data: st.DataObject) -> None:
        rec = self._pick(data)
        actor = data.draw(st.sampled_from([rec.drafter, *ACTORS]), label="actor")
        name, value = data.draw(st.sampled_from(EDITS), label="edit")
        expected = None
        if rec.state != "drafted":
            expected = "state"
        elif not ("drafter" in USERS[actor] and actor == rec.drafter):
            expected = "role"
        if expected:
            with pytest.raises(Refused) as info:
                self.wf.edit(rec.ref, actor=actor, **{name: value})
            assert info.value.rule == expected, info.value
            return
        changes = self.wf.edit(rec.ref, actor=actor, **{name: value})
        if rec.data.get(name) == value:
            assert changes == {}
            return
        assert changes == {name: [rec.data.get(name), value]}
        rec.data[name] = value
        rec.version += 1
        rec.rows += 1
        SEEN["edit"] += 1

    def _fire(self, rec: Rec, event: str, actor: str, reason: str | None,
              country: str | None, decision_date: date | None) -> None:
        args: dict[str, Any] = {}
        if country is not None:
            args["country"] = country
        if decision_date is not None:
            args["decision_date"] = decision_date
        malformed = (reason is not None and len(reason.strip()) > 2000) or bool(
            set(args) - ARGS.get(event, set()))
        if malformed:
            with pytest.raises(InvalidInput):
                self.wf.fire(rec.ref, event, actor=actor, reason=reason, **args)
            SEEN["malformed"] += 1
            return
        model_args = dict(args)
        if "country" in model_args:
            model_args["country"] = model_args["country"].upper()
        if event == "request_third_country" and decision_date is None:
            model_args["decision_date"] = date(self.model.today.year + 1, 1, 1)
        cleaned = reason.strip() if reason else None
        expected = self.model.refusal(rec, event, actor, cleaned or None, model_args)
        if expected is not None:
            with pytest.raises(Refused) as info:
                self.wf.fire(rec.ref, event, actor=actor, reason=reason, **args)
            assert info.value.rule == expected, (info.value, rec)
            assert info.value.event == event
            SEEN[f"{event}: {expected}"] += 1
            self._check_record(rec)
            return
        assert self.wf.fire(rec.ref, event, actor=actor, reason=reason,
                            **args) == TRANSITIONS[event][1]
        self.model.apply(rec, event, actor, model_args)
        SEEN[f"{event} -> {rec.state}"] += 1
        self._check_record(rec)
        row = self.wf.history(rec.ref)[-1]
        assert (row["event"], row["actor"], row["reason"]) == (event, actor, cleaned or None)
        assert row["roles"] == sorted(USERS[actor])
        assert row["consulted"]["as_of"] == self.model.today.isoformat()

    def _check_record(self, rec: Rec) -> None:
        """The request just fired at, read back one by one: as the model says."""
        got = self.wf.get(rec.ref)
        assert (got["state"], got["version"], got["decision_date"], got["third_country"]) == (
            rec.state, rec.version, rec.data.get("decision_date"), rec.data.get("third_country"))
        history = self.wf.history(rec.ref)
        assert len(history) == rec.rows
        assert history[-1]["to"] == rec.state

    def fire_anything(self, data: st.DataObject) -> None:
        """Any event by anyone, with any arguments: mostly refusals and malformed input."""
        rec = self._pick(data)
        event = data.draw(st.sampled_from(EVENTS), label="event")
        actor = data.draw(st.sampled_from(ACTORS), label="actor")
        reason = data.draw(st.sampled_from(REASONS), label="reason")
        country = data.draw(st.sampled_from(COUNTRIES), label="country")
        offset = data.draw(st.one_of(st.none(), st.integers(-400, 900)), label="offset")
        decision = None if offset is None else self.model.today + timedelta(days=offset)
        self._fire(rec, event, actor, reason, country, decision)

    def fire_plausible(self, data: st.DataObject) -> None:
        """An event that applies to the state, by someone holding a role that may fire it."""
        rec = self._pick(data, sorted(r for r, rec in self.model.records.items()
                                      if rec.state not in FINAL))
        fitting = [e for e in EVENTS if rec.state in TRANSITIONS[e][0]]
        forward = [e for e in fitting if e in FORWARD]
        event = data.draw(st.sampled_from(forward * 3 + fitting), label="event")
        actor = data.draw(st.sampled_from(
            [a for a in ACTORS if self.model.permitted(event, a, rec)]), label="actor")
        reason = data.draw(st.sampled_from([None, "NSC decided", "NSC decided", "NSC decided"]),
                           label="reason")
        country, decision = None, None
        if event in ARGS:
            offset = data.draw(st.one_of(st.none(), st.integers(-100, 900)), label="offset")
            decision = None if offset is None else self.model.today + timedelta(days=offset)
        if event == "request_third_country":
            country = data.draw(st.sampled_from(["PL", "PL", "DE", "GB", "UA", "jp", None]),
                                label="country")
        self._fire(rec, event, actor, reason, country, decision)

    def preview(self, data: st.DataObject) -> None:
        """`request show`'s events: allowed exactly when state, role and argument-free rules
        allow, and a refusal names the rule the model predicts."""
        rec = self._pick(data)
        actor = data.draw(st.sampled_from(ACTORS), label="actor")
        shown = {e["event"]: e for e in self.wf.get(rec.ref, actor=actor)["events"]}
        for event in EVENTS:
            expected = self.model.refusal(rec, event, actor, None, {}, with_args=False)
            assert shown[event]["allowed"] == (expected is None), (event, shown[event], rec)
            if expected is not None:
                assert shown[event]["reason"].endswith(f"[rule: {expected}]"), shown[event]

    def unknown_ref(self, data: st.DataObject) -> None:
        ref = data.draw(st.sampled_from(["TR-2026-9999", "TR-1999-0001", "nonsense"]),
                        label="ref")
        event = data.draw(st.sampled_from(EVENTS), label="event")
        with pytest.raises(NotFound):
            self.wf.fire(ref, event, actor="ann", reason="r")

    # -- the database agrees with the model after every step -----------------------------------

    @invariant()
    def database_matches_the_model(self) -> None:
        if not hasattr(self, "wf") or not self.model.records:
            return
        listed = {r["ref"]: r for r in self.wf.list()}
        assert sorted(listed) == sorted(self.model.records)
        for ref, rec in self.model.records.items():
            got = listed[ref]
            assert got["state"] == rec.state, (ref, got, rec)
            assert got["version"] == rec.version, (ref, got, rec)
            for name in ("decision_date", "third_country", "recipient", "licensor_country",
                         "consent_instrument", "quantity", "note"):
                assert got[name] == rec.data.get(name), (ref, name, got, rec)
            assert got["drafted_by"] == rec.drafter
        due = {r["ref"] for r in self.wf.due()}
        assert due == {ref for ref, rec in self.model.records.items()
                       if rec.state == "third_country_review"
                       and date.fromisoformat(rec.data["decision_date"]) <= self.model.today}
        rows = self.wf.log()
        assert len(rows) == sum(rec.rows for rec in self.model.records.values())
        for ref, rec in self.model.records.items():
            mine = [r for r in rows if r["ref"] == ref]
            assert len(mine) == rec.rows
            assert mine[-1]["to"] == rec.state


MAX_EXAMPLES = {"sqlite": 60, "postgresql": 40}


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_database_follows_the_model_of_the_process(backend):
    if backend == "postgresql" and not _postgres_url():
        pytest.skip(f"{PG_ENV} not set")
    machine = type(f"TransferMachine_{backend}", (TransferMachine,), {"backend": backend})
    SEEN.clear()
    run_state_machine_as_test(machine, settings=settings(
        max_examples=MAX_EXAMPLES[backend], stateful_step_count=50, deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    ))
    print(f"\n[model {backend}] " + ", ".join(f"{k}={v}" for k, v in sorted(SEEN.items())))
    # the runs reached the far end of the process, not only refusals near its start
    assert SEEN["approve -> approved"] or SEEN["approve: decision-date-reached"], SEEN
