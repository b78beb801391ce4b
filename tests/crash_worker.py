"""The victim of tests/test_crash.py: fires events on many requests in a loop until killed.

Usage: python tests/crash_worker.py TARGET SEED
Prints ``started`` once it has committed its first request, then goes on writing for ever:
create, edit, submit, approve_for_us, request_third_country, defer and a final decision, with
refusals on the way, on ever new requests.
"""

from __future__ import annotations

import contextlib
import random
import sys

from samples import PATRIOT  # the script's own folder is on sys.path

from workflow import Workflow
from workflow.errors import Refused


def one_request(wf: Workflow, rng: random.Random, n: int) -> None:
    ref = wf.create(actor="dan", **{**PATRIOT, "note": f"crash loop #{n}"})
    if n == 0:
        print("started", flush=True)
    wf.edit(ref, actor="dan", quantity=rng.randint(1, 99))
    wf.fire(ref, "submit", actor="dan")
    if rng.random() < 0.2:
        wf.fire(ref, "return", actor="rita", reason="fix the quantity")
        wf.fire(ref, "submit", actor="dan")
    with contextlib.suppress(Refused):  # refused: separation of duties
        wf.fire(ref, "approve_for_us", actor="dan")
    if rng.random() < 0.15:
        wf.fire(ref, "deny", actor="abe", reason="not now")
        return
    wf.fire(ref, "approve_for_us", actor="ann")
    wf.fire(ref, "request_third_country", actor="dan", country="PL",
            reason="US request for consent")
    today = wf.clock().date()
    wf.fire(ref, "defer", actor="abe", reason="more facts needed",
            decision_date=today.replace(year=today.year + 2))
    wf.fire(ref, "deny", actor="ann", reason="no consent")


def main() -> None:
    target, seed = sys.argv[1], int(sys.argv[2])
    rng = random.Random(seed)
    wf = Workflow(target)
    n = 0
    while True:
        one_request(wf, rng, n)
        n += 1


if __name__ == "__main__":
    main()
