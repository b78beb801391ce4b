"""One writer process of tests/test_stress.py: fires pseudo-random events on shared requests.

Usage: python tests/stress_worker.py '<json config>'
Config keys: target, seed, attempts, refs (the shared pool), worker (its index).

It opens the database, prints ``ready``, waits for one line on stdin (the start signal shared by
every worker), then makes ``attempts`` attempts and prints one JSON line per attempt:
``{"op", "ref", "event", "actor", "outcome", "state", "rule", "detail"}`` where outcome is
applied / noop / refused / conflict / busy / other. ``other`` carries the traceback. A final
``{"done": true}`` line says the loop ran to its end.
"""

from __future__ import annotations

import json
import random
import sys
import traceback
from datetime import UTC, datetime, timedelta
from typing import Any

from samples import PATRIOT  # the script's own folder is on sys.path

from workflow import Workflow
from workflow.errors import Busy, Conflict, Refused

START = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
DAYS_PER_ATTEMPT = 12
ACTORS = ("admin", "dan", "dora", "rita", "ann", "abe", "aud", "duo")
DRAFTERS = ("dan", "dora", "duo")
EVENTS = ("submit", "return", "approve_for_us", "deny", "withdraw", "request_third_country",
          "defer", "approve")
LIKELY_ACTORS = {
    "submit": ("dan", "dora", "duo", "admin"),
    "return": ("rita", "ann", "abe"),
    "approve_for_us": ("ann", "abe", "duo"),
    "deny": ("ann", "abe", "duo"),
    "withdraw": ("dan", "dora", "duo", "admin"),
    "request_third_country": ("dan", "dora", "ann", "admin"),
    "defer": ("ann", "abe", "duo"),
    "approve": ("ann", "abe", "duo"),
}
FINAL = ("approved", "denied", "withdrawn")
REFRESH_EVERY = 4
SOURCES = {
    "submit": ("drafted",),
    "return": ("nsc_review",),
    "approve_for_us": ("nsc_review",),
    "deny": ("nsc_review", "third_country_review"),
    "withdraw": ("drafted", "nsc_review"),
    "request_third_country": ("approved_for_us",),
    "defer": ("third_country_review",),
    "approve": ("third_country_review",),
}
COUNTRIES = ("PL", "PL", "DE", "GB", "UA", "US", "JP", None)


class StepClock:
    """The process clock moves on by DAYS_PER_ATTEMPT days per attempt, so decision dates come."""

    def __init__(self, worker: int) -> None:
        self.now = START + timedelta(seconds=worker)

    def __call__(self) -> datetime:
        return self.now


def attempt(wf: Workflow, rng: random.Random, pool: list[str], worker: int, number: int,
            out: dict[str, Any]) -> dict[str, Any]:
    """Make one attempt; ``out`` says what is tried before it is (kept when it raises)."""
    if number % REFRESH_EVERY == 0:  # follow the requests still moving, as every worker does
        moving = [r["ref"] for r in wf.list() if r["state"] not in FINAL]
        if moving:
            pool[:] = moving
    roll = rng.random()
    if roll < 0.12:
        actor = rng.choice((*DRAFTERS, "rita"))
        out.update(op="create", ref=None, event="create", actor=actor)
        ref = wf.create(actor=actor, **{**PATRIOT, "note": f"worker {worker} #{number}"})
        pool.append(ref)
        return {**out, "ref": ref, "outcome": "applied", "state": "drafted"}
    ref = rng.choice(pool)
    if roll < 0.2:
        actor = rng.choice((*DRAFTERS, "admin"))
        out.update(op="edit", ref=ref, event="edit", actor=actor)
        quantity = rng.choice((16, 16, 20, 24))
        changes = wf.edit(ref, actor=actor, quantity=quantity)
        if not changes:
            return {**out, "outcome": "noop"}
        return {**out, "outcome": "applied", "state": "drafted"}
    seen = wf.get(ref)  # what this worker believes; others may change it before it fires
    fitting = [e for e in EVENTS if seen["state"] in SOURCES[e]]
    event = rng.choice(fitting if fitting and rng.random() < 0.75 else EVENTS)
    actor = rng.choice(LIKELY_ACTORS[event] if rng.random() < 0.7 else ACTORS)
    kwargs: dict[str, Any] = {}
    if rng.random() < 0.8:
        kwargs["reason"] = f"stress {worker}/{number}"
    today = wf.clock().date()
    if event == "request_third_country":
        kwargs["country"] = rng.choice(COUNTRIES)
        if rng.random() < 0.3:
            kwargs["decision_date"] = today + timedelta(days=rng.randint(30, 500))
    elif event == "defer" and rng.random() < 0.9:
        kwargs["decision_date"] = today + timedelta(days=rng.randint(-30, 400))
    out.update(op="fire", ref=ref, event=event, actor=actor)
    if rng.random() < 0.3:  # read, then fire with the version just read: a window for a race
        kwargs["expected_version"] = seen["version"]
    state = wf.fire(ref, event, actor=actor, **kwargs)
    return {**out, "outcome": "applied", "state": state}


def main() -> None:
    config = json.loads(sys.argv[1])
    worker = int(config["worker"])
    rng = random.Random(config["seed"])
    clock = StepClock(worker)
    wf = Workflow(config["target"], clock=clock)
    pool = list(config["refs"])
    wf.users()  # connect now, so that the race is between the writes
    print("ready", flush=True)
    sys.stdin.readline()
    for number in range(int(config["attempts"])):
        clock.now += timedelta(days=DAYS_PER_ATTEMPT)
        tried: dict[str, Any] = {}
        try:
            line = attempt(wf, rng, pool, worker, number, tried)
        except Refused as error:
            line = {**tried, "outcome": "refused", "rule": error.rule, "detail": str(error)}
        except Conflict as error:
            line = {**tried, "outcome": "conflict", "detail": str(error)}
        except Busy as error:
            line = {**tried, "outcome": "busy", "detail": str(error)}
        except Exception as error:  # reported to the test, which fails on any of them
            line = {**tried, "outcome": "other", "detail": f"{type(error).__name__}: {error}\n"
                    + traceback.format_exc()[-1500:]}
        print(json.dumps({"worker": worker, "n": number, **line}), flush=True)
    wf.close()
    print(json.dumps({"done": True, "worker": worker}), flush=True)


if __name__ == "__main__":
    main()
