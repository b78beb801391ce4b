"""Build a realistic large database: requests spread over every state, several events each.

    python benchmarks/make_db.py 100000 --db big.db        # ~1,000,000 history rows

Uses the public API's batch paths (one transaction per batch), with a progress bar.
"""

from __future__ import annotations

import argparse
import random
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import click

from workflow import Workflow

PATRIOT = {
    "item": "PAC-3 MSE interceptor", "quantity": 16, "manufacturer": "Mitsubishi Heavy Industries",
    "licensor": "Lockheed Martin / RTX", "licensor_country": "US", "recipient": "US",
    "end_user": "US Army", "consent_instrument": "Japan-US Mutual Defense Assistance Agreement",
}
FIRST_DECISION = date(2026, 1, 1)  # in the past: no row is stamped ahead of a real clock
CAST = {"admin": ["admin"], "dan": ["drafter"], "dora": ["drafter"], "rita": ["reviewer"],
        "ann": ["approver"], "abe": ["approver"], "aud": ["auditor"]}

def _plan(rng: random.Random) -> tuple[list[tuple[str, str, dict[str, str]]], bool]:
    """One request's firings (event, actor, arguments), and whether it is approved at the end."""
    roll = rng.random()
    ask = [("submit", "dan", {}), ("approve_for_us", "ann", {"reason": "NSC approved"}),
           ("request_third_country", "dan", {"country": "PL"})]
    if roll < 0.5:
        defers = [("defer", "abe", {"reason": "awaiting facts", "decision_date":
                                    (FIRST_DECISION + timedelta(days=d)).isoformat()})
                  for d in range(1, rng.randint(7, 19))]
        return ask + defers, False
    if roll < 0.6:
        return ask, True
    if roll < 0.7:
        return ask[:2], False
    if roll < 0.8:
        return [("submit", "dan", {}), ("return", "rita", {"reason": "incomplete"})] * 2 + [
            ("submit", "dan", {})], False
    if roll < 0.9:
        return [("submit", "dan", {}), ("return", "rita", {"reason": "incomplete"}),
                ("submit", "dan", {}), ("deny", "abe", {"reason": "not now"})], False
    if roll < 0.95:
        return [("submit", "dan", {}), ("return", "rita", {"reason": "incomplete"}),
                ("withdraw", "dan", {"reason": "no longer needed"})], False
    return [], False


def build(target: str, requests: int, batch: int = 1000, seed: int = 7,
          show_progress: bool = True) -> dict[str, int]:
    """Requests in every state, about ten history rows each, built in batched transactions."""
    rng = random.Random(seed)
    now = [datetime(2025, 3, 1, tzinfo=UTC)]
    wf = Workflow(target, clock=lambda: now[0], create=True)
    wf.init("admin", direct_schema=True)
    for name, roles in CAST.items():
        if name != "admin":
            wf.add_user(name, roles, actor="admin")
    rows = 0
    to_approve: list[str] = []
    with click.progressbar(length=requests, label="building", file=sys.stderr,
                           hidden=not show_progress) as bar:
        for start in range(0, requests, batch):
            size = min(batch, requests - start)
            refs = wf.create_many([PATRIOT] * size, actor="dan")
            rows += size
            plans = []
            for ref in refs:
                plan, approve = _plan(rng)
                plans.append((ref, plan))
                if approve:
                    to_approve.append(ref)
            for step in range(max(len(p) for _, p in plans)):
                by_actor: dict[str, list[dict[str, str]]] = {}
                for ref, plan in plans:
                    if step < len(plan):
                        event, actor, args = plan[step]
                        by_actor.setdefault(actor, []).append({"ref": ref, "event": event, **args})
                for actor, firings in by_actor.items():
                    wf.fire_many(firings, actor=actor)
                    rows += len(firings)
            now[0] += timedelta(minutes=7)
            bar.update(size)
    now[0] = datetime.combine(FIRST_DECISION, datetime.min.time(), UTC) + timedelta(hours=9)
    for start in range(0, len(to_approve), batch):
        chunk = to_approve[start:start + batch]
        wf.fire_many([{"ref": ref, "event": "approve"} for ref in chunk], actor="abe")
        rows += len(chunk)
    wf.close()
    return {"requests": requests, "history_rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("requests", type=int, help="how many requests to create")
    parser.add_argument("--db", default="big.db", help="SQLite path or database URL")
    parser.add_argument("--batch", type=int, default=1000, help="requests per transaction")
    args = parser.parse_args()
    if "://" not in args.db and Path(args.db).exists():
        parser.error(f"{args.db} exists; choose a new path")
    result = build(args.db, args.requests, args.batch)
    print(f"{result['requests']} requests, {result['history_rows']} history rows in {args.db}")


if __name__ == "__main__":
    main()
