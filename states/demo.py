"""The seed story, played through the public API: what `workflow demo` narrates.

Japan's NSC approves licence-built Patriot PAC-3 missiles for the licensor country (the US); the
US then asks consent to pass them on: to Ukraine (refused: in combat) and to Poland (pending the
decision due next year).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from workflow.errors import Refused, WorkflowError


class WorkflowAPI(Protocol):
    def init(self, admin: str) -> bool: ...
    def add_user(self, name: str, roles: list[str], *, actor: str) -> dict[str, Any]: ...
    def create(self, *, actor: str, **fields: Any) -> str: ...
    def fire(self, ref: str, event: str, *, actor: str, reason: str | None = None,
             **args: Any) -> str: ...
    def get(self, ref: str, *, actor: str | None = None) -> dict[str, Any]: ...


CAST = (
    ("sato", ["drafter", "approver"], "drafts requests and also sits on approvals"),
    ("tanaka", ["reviewer"], "checks requests for the NSC secretariat"),
    ("suzuki", ["approver"], "records the decisions of the NSC four-minister meeting"),
    ("ito", ["auditor"], "audits the record"),
)

PATRIOT = {
    "item": "Patriot PAC-3 MSE interceptor missile",
    "quantity": 16,
    "manufacturer": "Mitsubishi Heavy Industries",
    "licensor": "Lockheed Martin / RTX",
    "licensor_country": "US",
    "recipient": "US",
    "end_user": "US Army",
    "consent_instrument": "Japan-US Mutual Defense Assistance Agreement",
    "note": "replenishes US inventories; no transfer beyond the US government without "
            "Japan's prior consent",
}


def obstacle(db: str, registered: list[str], admin: str, in_force: set[str] | None) -> str | None:
    """Why the story cannot be played into ``db`` by ``admin``, if it cannot: the admin is one
    of its cast, its users are already registered, or the policy in force today (``in_force``,
    None before the database is seeded) no longer gives the refusal and the consent it tells."""
    fresh = "the demo needs a fresh database (name another: workflow --db FILE demo)"
    cast = [name for name, _, _ in CAST]
    if admin.lower() in cast:  # names differing only in case are one person's
        return f"{admin} plays a part in the story; play it as another user (--as)"
    known = {name.lower() for name in registered}
    taken = [name for name in cast if name in known]
    if taken:
        return f"{db} already has users {', '.join(taken)}; {fresh}"
    if in_force is not None and ("UA" not in in_force or in_force & {"US", "PL"}):
        return (f"{db}'s policy today does not restrict UA while leaving the US and PL open, as "
                f"the story needs; {fresh}")
    return None


def play(wf: WorkflowAPI, admin: str, say: Callable[[str], None], *, fresh: bool = True
         ) -> str:
    """Play the story into an initialised-or-empty database (``fresh``: empty when it was
    checked); returns the request's reference."""
    if wf.init(admin):
        say(f"Database initialised; {admin} is the admin. Seeded restrictions: KP (embargo), "
            "UA, RU, IL (in combat).")
    elif fresh:  # set up by another process since it was checked: its story, not this one's
        raise WorkflowError("another process set up the database while the demo started; "
                            "nothing was changed (the demo needs a fresh database: name "
                            "another with workflow --db FILE demo)")
    else:
        say(f"The database is already set up; {admin}, its admin, registers the story's cast.")
    for name, roles, what in CAST:
        if name != admin:
            wf.add_user(name, roles, actor=admin)
            say(f"  registered {name} ({', '.join(roles)}): {what}")

    say("\n1. sato drafts the request: licence-built Patriot PAC-3 missiles for the licensor "
        "country.")
    ref = wf.create(actor="sato", **PATRIOT)
    say(f"   {ref} drafted: {PATRIOT['quantity']} x {PATRIOT['item']}"
        f" -> US ({PATRIOT['end_user']})")

    say("2. sato submits it to the National Security Council review.")
    say(f"   {ref} is now {wf.fire(ref, 'submit', actor='sato')}")

    say("3. sato, who also holds the approver role, tries to approve his own request.")
    _refused(lambda: wf.fire(ref, "approve_for_us", actor="sato"), say)

    say("4. suzuki records the NSC approval of the shipment to the United States.")
    state = wf.fire(ref, "approve_for_us", actor="suzuki",
                    reason="NSC four-minister meeting approved the export to the licensor")
    say(f"   {ref} is now {state}")

    say("5. The US asks Japan's consent to pass the missiles to Ukraine.")
    _refused(lambda: wf.fire(ref, "request_third_country", actor="sato", country="UA",
                             reason="US request for consent to re-transfer"), say)

    say("6. The US asks Japan's consent to pass the missiles to Poland.")
    state = wf.fire(ref, "request_third_country", actor="sato", country="PL",
                    reason="US request for consent to re-transfer")
    record = wf.get(ref)
    say(f"   {ref} is now {state}: Japan decides on {record['decision_date']} "
        "(the following year)")

    say("7. suzuki tries to approve the transfer to Poland today: the decision is not due yet.")
    _refused(lambda: wf.fire(ref, "approve", actor="suzuki"), say)
    return ref


def _refused(attempt: Callable[[], Any], say: Callable[[str], None]) -> None:
    try:
        attempt()
    except Refused as refusal:
        say(f"   REFUSED by rule {refusal.rule}: {refusal.reason}")
    else:  # pragma: no cover - the story depends on the refusal
        raise AssertionError("the demo expected a refusal")
