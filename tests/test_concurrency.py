"""Several writers on one database: optimistic versions, real races, and gap-free references."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any

import pytest

from tests.conftest import assert_one_line_error, db_snapshot, draft, to_state
from workflow import Conflict, Refused, Workflow
from workflow.clock import iso

THREADS = 6
BARRIER_TIMEOUT = 60


@pytest.fixture
def other(db_target, clock, wf) -> Iterator[Workflow]:
    """A second Workflow object on the database of ``wf`` (another process, another person)."""
    second = Workflow(db_target, clock=clock)
    yield second
    second.close()


def run_together(target: str, clock: Any, work: Callable[[Workflow, int], Any],
                 count: int = THREADS) -> list[Any]:
    """Run ``work(workflow, index)`` in ``count`` threads, each with its own Workflow, released
    together by a barrier; returns each thread's result or the exception it raised."""
    barrier = threading.Barrier(count, timeout=BARRIER_TIMEOUT)
    results: list[Any] = [None] * count
    flows = [Workflow(target, clock=clock) for _ in range(count)]
    for flow in flows:  # open a connection now, so the race is between writes, not connects
        flow.users()

    def body(index: int) -> None:
        try:
            barrier.wait()
            results[index] = work(flows[index], index)
        except Exception as error:  # collected and asserted on by the test
            results[index] = error

    threads = [threading.Thread(target=body, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=BARRIER_TIMEOUT * 2)
    try:
        assert not any(t.is_alive() for t in threads), "a writer hung"
    finally:
        for flow in flows:
            flow.close()
    return results


# -- optimistic concurrency: expected_version -----------------------------------------------------


def test_second_writer_with_a_stale_version_gets_a_conflict(wf, other):
    ref = to_state(wf, "nsc_review")
    version = wf.get(ref)["version"]
    assert other.get(ref)["version"] == version
    rows = len(wf.history(ref))

    assert wf.fire(ref, "approve_for_us", actor="ann", expected_version=version) == (
        "approved_for_us")
    with pytest.raises(Conflict) as info:
        other.fire(ref, "deny", actor="abe", reason="no", expected_version=version)
    assert str(info.value) == (f"{ref} is at version {version + 1}, not {version} as expected: "
                               "it was changed since it was read; reload and retry "
                               "[rule: conflict]")
    assert (info.value.rule, info.value.reason) == ("conflict", str(info.value).removesuffix(
        " [rule: conflict]"))
    assert info.value.ref == ref

    history = other.history(ref)
    assert len(history) == rows + 1
    assert history[-1]["event"] == "approve_for_us"
    record = other.get(ref)
    assert (record["state"], record["version"]) == ("approved_for_us", version + 1)


def test_conflict_is_raised_even_when_the_stale_event_would_still_apply(wf, other):
    ref = draft(wf, "dan")
    version = wf.get(ref)["version"]
    wf.edit(ref, actor="dan", note="first", expected_version=version)
    with pytest.raises(Conflict, match=f"^{ref} is at version 2, not 1 as expected: "):
        other.fire(ref, "submit", actor="dan", expected_version=version)
    record = other.get(ref)
    assert (record["state"], record["version"], record["note"]) == ("drafted", 2, "first")
    assert [h["event"] for h in other.history(ref)] == ["create", "edit"]


def test_stale_edit_gets_a_conflict_and_changes_nothing(wf, other):
    ref = draft(wf, "dan")
    version = wf.get(ref)["version"]
    wf.edit(ref, actor="dan", quantity=20, expected_version=version)
    with pytest.raises(Conflict):
        other.edit(ref, actor="dan", quantity=30, expected_version=version)
    assert other.get(ref)["quantity"] == 20
    assert len(other.history(ref)) == 2


def test_reloading_after_a_conflict_lets_the_second_writer_retry(wf, other):
    ref = to_state(wf, "nsc_review")
    version = wf.get(ref)["version"]
    wf.fire(ref, "return", actor="rita", reason="fix", expected_version=version)
    with pytest.raises(Conflict):
        other.fire(ref, "withdraw", actor="dan", reason="gone", expected_version=version)
    fresh = other.get(ref)["version"]
    assert other.fire(ref, "withdraw", actor="dan", reason="gone",
                      expected_version=fresh) == "withdrawn"


# -- real races ------------------------------------------------------------------------------------


def test_racing_approvals_for_us_let_exactly_one_through(wf, db_target, clock):
    ref = to_state(wf, "nsc_review")
    approvers = ("ann", "abe", "duo")

    def approve(flow: Workflow, index: int) -> str:
        return flow.fire(ref, "approve_for_us", actor=approvers[index % len(approvers)])

    results = run_together(db_target, clock, approve)

    winners = [r for r in results if r == "approved_for_us"]
    losers = [r for r in results if r != "approved_for_us"]
    assert len(winners) == 1, results
    for loser in losers:
        assert isinstance(loser, Conflict | Refused), repr(loser)
        if isinstance(loser, Refused):
            assert loser.rule == "state", loser
    history = wf.history(ref)
    assert [h["event"] for h in history].count("approve_for_us") == 1
    assert len(history) == 3
    record = wf.get(ref)
    assert (record["state"], record["version"]) == ("approved_for_us", 3)


def test_racing_decisions_in_nsc_review_leave_one_consistent_outcome(wf, db_target, clock):
    ref = to_state(wf, "nsc_review")
    # every outcome of these leaves a state from which none of the others applies
    attempts = (
        ("approve_for_us", "ann", {}),
        ("deny", "abe", {"reason": "no"}),
        ("withdraw", "dan", {"reason": "gone"}),
        ("approve_for_us", "duo", {}),
    )

    def decide(flow: Workflow, index: int) -> str:
        event, actor, kwargs = attempts[index]
        return flow.fire(ref, event, actor=actor, **kwargs)

    results = run_together(db_target, clock, decide, count=len(attempts))

    outcomes = [r for r in results if isinstance(r, str)]
    assert len(outcomes) == 1, results
    assert all(isinstance(r, Conflict | Refused) for r in results if not isinstance(r, str))
    history = wf.history(ref)
    assert len(history) == 3
    assert history[-1]["to"] == outcomes[0] == wf.get(ref)["state"]


def test_concurrent_creates_get_distinct_gap_free_references(wf, db_target, clock):
    per_thread = 3

    def create_some(flow: Workflow, index: int) -> list[str]:
        drafter = ("dan", "dora", "duo")[index % 3]
        return [draft(flow, drafter, note=f"thread {index} #{n}") for n in range(per_thread)]

    results = run_together(db_target, clock, create_some)

    assert all(isinstance(r, list) for r in results), results
    refs = [ref for batch in results for ref in batch]
    total = THREADS * per_thread
    assert len(set(refs)) == len(refs) == total
    assert sorted(refs) == [f"TR-2026-{n:04d}" for n in range(1, total + 1)]
    assert sorted(r["ref"] for r in wf.list()) == sorted(refs)
    for ref in refs:
        assert [h["event"] for h in wf.history(ref)] == ["create"]


# -- administrative changes race too -------------------------------------------------------------


def test_racing_restrictions_of_one_country_let_exactly_one_through(wf, db_target, clock):
    def restrict(flow: Workflow, index: int) -> Any:
        return flow.restrict("PL", "embargo", date(2026, 1, 1), reason=f"writer {index}",
                             actor="admin")

    results = run_together(db_target, clock, restrict)
    refused = [r for r in results if isinstance(r, Refused)]
    assert len(refused) == THREADS - 1, results
    assert {r.rule for r in refused} == {"already-restricted"}
    assert [p["country"] for p in wf.policy()].count("PL") == 1
    assert wf.verify()["policy_changes"] == 4 + 1


def test_admins_disabling_each_other_at_once_leave_one_admin(wf, db_target, clock):
    wf.add_user("root", ["admin"], actor="admin")
    pair = ("admin", "root")

    def disable_the_other(flow: Workflow, index: int) -> Any:
        return flow.disable_user(pair[1 - index], actor=pair[index])

    results = run_together(db_target, clock, disable_the_other, count=2)
    assert sum(isinstance(r, Refused) for r in results) == 1, results
    assert [u["name"] for u in wf.users() if "admin" in u["roles"] and u["active"]] in (
        ["admin"], ["root"])


def test_an_admin_disabled_meanwhile_cannot_act_after_it(wf, db_target, clock, monkeypatch):
    """Three admins, two disabling each other: root's change, checked and about to lock the log
    head, waits while admin's disables root and commits. Root must then be refused, though two
    admins would remain."""
    if wf.db.is_sqlite:
        pytest.skip("SQLite runs one write transaction at a time, its reads included")
    from workflow import admin as administering

    wf.add_user("root", ["admin"], actor="admin")
    wf.add_user("third", ["admin"], actor="admin")
    first, second = Workflow(db_target, clock=clock), Workflow(db_target, clock=clock)
    real_lock = administering._lock_log
    done: list[Any] = []

    def lock_after_the_other(session: Any) -> None:
        if not done:  # root's turn comes first: admin's change runs to its commit meanwhile
            done.append(None)
            worker = threading.Thread(target=lambda: done.append(
                first.disable_user("root", actor="admin")))
            worker.start()
            worker.join(timeout=60)
        real_lock(session)

    monkeypatch.setattr(administering, "_lock_log", lock_after_the_other)
    try:
        with pytest.raises(Refused) as refused:
            second.disable_user("admin", actor="root")
    finally:
        first.close()
        second.close()
    assert len(done) == 2, "admin's change did not go through"
    assert refused.value.rule == "active-user"
    active = {u["name"] for u in wf.users() if "admin" in u["roles"] and u["active"]}
    assert active == {"admin", "third"}


# -- several inits at once ------------------------------------------------------------------------


def test_inits_at_once_on_a_new_database_all_succeed_and_one_initialises(db_target):
    """The schema is migrated by one process at a time; the others wait, find it done, and
    find the first one's admin."""
    script = shutil.which("workflow")
    assert script, "the workflow console script is not installed"
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKFLOW_")}
    inits = [subprocess.Popen([script, "--db", db_target, "--as", f"adm{n}", "init"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for n in range(4)]
    done = [(p.wait(timeout=120), "".join(p.communicate())) for p in inits]
    assert [code for code, _ in done] == [0] * 4, done
    firsts = [out for _, out in done if "with admin" in out]
    assert len(firsts) == 1, done
    assert all("already initialised; nothing changed" in out for _, out in done
               if out not in firsts), done
    wf = Workflow(db_target)
    try:
        assert [u["name"] for u in wf.users()] == [firsts[0].split("'")[1]]
        assert wf.verify()["rows"] == 0
    finally:
        wf.close()


# -- a write is stamped in its place in the log ---------------------------------------------------


@contextmanager
def log_head_held(db_target: str) -> Iterator[None]:
    """Another connection holding the log head, as a writer does until it commits."""
    if "://" not in db_target:
        import sqlite3

        conn = sqlite3.connect(db_target, isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            conn.execute("ROLLBACK")
            conn.close()
        return
    import psycopg

    url, _, options = db_target.partition("?")
    with psycopg.connect(url, options=options.removeprefix("options=").replace("%3D", "=")
                         ) as conn:
        conn.execute("SELECT 1 FROM wf_log_head WHERE id = 1 FOR UPDATE")
        yield
        conn.rollback()


@pytest.mark.parametrize("write", ["fire", "create", "edit", "fire_many", "refused"])
def test_a_write_that_waits_for_another_is_stamped_after_the_wait(wf, db_target, clock, write,
                                                                  monkeypatch):
    """The writer begins its transaction while another holds the log head; the clock moves an
    hour before the head is let go: the row is stamped with the later time."""
    from workflow import interrupts

    ref = draft(wf)
    calls = {
        "fire": lambda flow: flow.fire(ref, "submit", actor="dan"),
        "create": lambda flow: draft(flow),
        "edit": lambda flow: flow.edit(ref, actor="dan", note="later"),
        "fire_many": lambda flow: flow.fire_many([{"ref": ref, "event": "submit"}],
                                                 actor="dan"),
        "refused": lambda flow: flow.fire(ref, "approve_for_us", actor="dan"),
    }
    begun = threading.Event()
    beginning = interrupts.beginning

    def beginning_seen() -> None:  # every write transaction calls it before BEGIN
        beginning()
        begun.set()

    monkeypatch.setattr(interrupts, "beginning", beginning_seen)
    errors: list[BaseException] = []
    flow = Workflow(db_target, clock=clock)

    def waiting_writer() -> None:
        try:
            calls[write](flow)
        except Refused:
            pass
        except BaseException as error:  # asserted on below
            errors.append(error)

    with log_head_held(db_target):
        thread = threading.Thread(target=waiting_writer)
        thread.start()
        assert begun.wait(BARRIER_TIMEOUT)  # from here on it waits for the head
        clock.advance(hours=1)
    thread.join(timeout=BARRIER_TIMEOUT)
    flow.close()
    assert not thread.is_alive() and not errors, errors
    if write == "refused":
        assert wf.refusals()[-1]["at"] == iso(clock())
    else:
        assert wf.log()[-1]["at"] == iso(clock())


def test_the_cli_fires_or_edits_only_at_the_version_a_script_read(wf, run_ready):
    """`--expected-version`: the guard a script puts on what it read; a stale one changes
    nothing, exits 1 naming both versions, and is recorded as a conflict."""
    ref = draft(wf, "dan")
    stale = run_ready("advance", ref, "submit", "--expected-version", "2", actor="dan")
    assert assert_one_line_error(stale, 1) == (
        f"error: {ref} is at version 1, not 2 as expected: no such version was ever written; "
        "give the version it was read at [rule: conflict]")
    edited = run_ready("request", "edit", ref, "--note", "v2", "--expected-version", "1",
                       actor="dan")
    assert edited.exit_code == 0, edited.stderr
    before = db_snapshot(wf.db.url, {"wf_refusal": None, "wf_log_head": None})
    again = run_ready("request", "edit", ref, "--note", "v3", "--expected-version", "1",
                      actor="dan")
    assert "is at version 2, not 1 as expected" in assert_one_line_error(again, 1)
    assert db_snapshot(wf.db.url, {"wf_refusal": None, "wf_log_head": None}) == before
    assert [(r["event"], r["rule"]) for r in wf.refusals()] == [("submit", "conflict"),
                                                                ("edit", "conflict")]
    fired = run_ready("advance", ref, "submit", "--expected-version", "2", "--json",
                      actor="dan")
    assert fired.exit_code == 0, fired.stderr
    assert wf.get(ref)["version"] == 3
    for bad in ("0", "x"):
        refused = run_ready("advance", ref, "withdraw", "--reason", "r",
                            "--expected-version", bad, actor="dan")
        assert "--expected-version" in assert_one_line_error(refused, 2)
