"""The guard rules of the transfer-request process.

Each rule is a small pure function of the firing's context that returns None when it holds, or
the reason it refuses, naming the facts behind the refusal.
"""

from __future__ import annotations

from datetime import date

from workflow.process import Context

JAPAN = "JP"
REQUIRED_FOR_SUBMIT = (
    "item",
    "quantity",
    "recipient",
    "end_user",
    "manufacturer",
    "licensor",
    "licensor_country",
    "consent_instrument",
)


def next_new_year(ctx: Context) -> date | None:
    """The default decision date of a third-country request: 1 January of next year (none in
    the last year a date can have)."""
    if ctx.today.year >= date.max.year:
        return None
    return date(ctx.today.year + 1, 1, 1)


def _restricted(ctx: Context, country: str | None) -> str | None:
    if not country:
        return None
    entries = ctx.policy.in_force(country)
    if not entries:
        return None
    facts = "; ".join(e.describe() for e in entries)
    return f"{country} is restricted ({facts})"


def required_fields(ctx: Context) -> str | None:
    missing = [name for name in REQUIRED_FOR_SUBMIT if ctx.fields.get(name) in (None, "")]
    if missing:
        return f"required fields missing: {', '.join(missing)}"
    if ctx.fields.get("unit_value") is not None and not ctx.fields.get("currency"):
        return "a unit value needs its currency"
    if ctx.fields.get("currency") and ctx.fields.get("unit_value") is None:
        return "a currency needs a unit value"
    return None


def recipient_is_licensor_country(ctx: Context) -> str | None:
    recipient, licensor = ctx.fields.get("recipient"), ctx.fields.get("licensor_country")
    if recipient != licensor:
        return (
            f"the recipient ({recipient}) is not the licensor country ({licensor}); "
            "licence-produced equipment may go only to the licensor country"
        )
    return None


def recipient_unrestricted(ctx: Context) -> str | None:
    return _restricted(ctx, ctx.fields.get("recipient"))


def reason_given(ctx: Context) -> str | None:
    return None if ctx.reason else "a reason is required"


def not_drafter_nor_submitter(ctx: Context) -> str | None:
    if ctx.actor == ctx.drafter:
        return f"separation of duties: {ctx.actor} drafted {ctx.ref}"
    if ctx.actor in ctx.fired_by("submit"):
        return f"separation of duties: {ctx.actor} submitted {ctx.ref}"
    return None


def not_drafter_nor_third_country_requester(ctx: Context) -> str | None:
    if ctx.actor == ctx.drafter:
        return f"separation of duties: {ctx.actor} drafted {ctx.ref}"
    if ctx.actor in ctx.fired_by("request_third_country"):
        return f"separation of duties: {ctx.actor} recorded the third-country request"
    return None


def third_country_named(ctx: Context) -> str | None:
    country = ctx.args.get("country")
    if not country:
        return "a third country is required (--country; in a file, the country column)"
    if country == ctx.fields.get("recipient"):
        return f"{country} is the recipient itself, not a third country"
    if country == JAPAN:
        return f"{country} is Japan, the exporting country, not a third country"
    return None


def third_country_unrestricted(ctx: Context) -> str | None:
    return _restricted(ctx, ctx.args.get("country"))


def decision_in_later_year(ctx: Context) -> str | None:
    decision = ctx.args.get("decision_date")
    if decision is None:
        return (f"no calendar year follows {ctx.today.year}: no decision date can fall in a "
                "later one")
    if decision.year <= ctx.today.year:
        return (
            f"the decision date {decision.isoformat()} must fall in a later calendar year "
            f"than today ({ctx.today.isoformat()})"
        )
    return None


def later_date_exists(ctx: Context) -> str | None:
    """Deferring needs a day after the current decision date; the calendar's last day has
    none, whatever date is given (so ``todo`` does not offer the event)."""
    current = ctx.fields.get("decision_date")
    if current == date.max:
        return (f"the decision date is {current.isoformat()}, the calendar's last day: no "
                "later date exists")
    return None


def new_decision_date_later(ctx: Context) -> str | None:
    decision = ctx.args.get("decision_date")
    current = ctx.fields.get("decision_date")
    if decision is None:
        return ("a new decision date is required (--decision-date; in a file, the decision_date "
                "column)")
    if current is not None and decision <= current:
        return (
            f"the new decision date {decision.isoformat()} is not later than the current one "
            f"({current.isoformat()})"
        )
    return None


def decision_date_reached(ctx: Context) -> str | None:
    decision = ctx.fields.get("decision_date")
    if decision is None:
        return "no decision date is set"
    if ctx.today < decision:
        return f"the decision is scheduled for {decision.isoformat()}"
    return None


def kept_third_country_unrestricted(ctx: Context) -> str | None:
    return _restricted(ctx, ctx.fields.get("third_country"))
