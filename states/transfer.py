"""The transfer-request process, as a table: states, events, who may fire them, and their rules.

Read it beside the process table in DOMAIN.md: one ``Event`` per row.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from states import rules as r
from states.seed import KINDS, SEEDED_RESTRICTIONS
from workflow.process import SEPARATION_RULE, Context, Event, FieldSpec, Permit, Process, Rule

DRAFTED = "drafted"
NSC_REVIEW = "nsc_review"
APPROVED_FOR_US = "approved_for_us"
THIRD_COUNTRY_REVIEW = "third_country_review"
APPROVED = "approved"
DENIED = "denied"
WITHDRAWN = "withdrawn"

ROLES = ("admin", "drafter", "reviewer", "approver", "auditor")

ADMIN = Permit("admin")
APPROVER = Permit("approver")
REVIEWER = Permit("reviewer")
OWN_DRAFTER = Permit("drafter", own=True)

REASON = Rule("reason-required", r.reason_given, uses_args=True)
SOD_DECIDER = Rule(SEPARATION_RULE, r.not_drafter_nor_submitter)
RECIPIENT_UNRESTRICTED = Rule("recipient-unrestricted", r.recipient_unrestricted)

FIELDS = (
    FieldSpec("item", "text", "the equipment, e.g. 'PAC-3 MSE interceptor'", required=True),
    FieldSpec("quantity", "positive_int", "how many units (a positive whole number)",
              required=True),
    FieldSpec("unit_value", "decimal",
              "value of one unit (with --currency: submit needs both or neither)"),
    FieldSpec("currency", "currency", "ISO 4217 code of the unit value, e.g. JPY"),
    FieldSpec("manufacturer", "text", "who makes it, e.g. 'Mitsubishi Heavy Industries'",
              required=True),
    FieldSpec("licensor", "text", "who licensed the design, e.g. 'Lockheed Martin / RTX'",
              required=True),
    FieldSpec("licensor_country", "country", "ISO 3166-1 alpha-2 code of the licensor",
              required=True),
    FieldSpec("recipient", "country", "ISO 3166-1 alpha-2 code of the recipient country",
              required=True),
    FieldSpec("end_user", "text", "the end user, e.g. 'US Army'", required=True),
    FieldSpec("consent_instrument", "text",
              "the prior-consent instrument (required before submit)"),
    FieldSpec("note", "text", "free note"),
    FieldSpec("third_country", "country", "set by request_third_country", editable=False),
    FieldSpec("decision_date", "date", "set by request_third_country and defer", editable=False),
)


def _third_country_defaults(ctx: Context) -> Mapping[str, Any]:
    return {"decision_date": r.next_new_year(ctx)}


def _set_third_country(ctx: Context) -> Mapping[str, Any]:
    return {"third_country": ctx.args["country"], "decision_date": ctx.args["decision_date"]}


def _set_decision_date(ctx: Context) -> Mapping[str, Any]:
    return {"decision_date": ctx.args["decision_date"]}


EVENTS = (
    Event(
        "submit", (DRAFTED,), NSC_REVIEW, (OWN_DRAFTER, ADMIN),
        rules=(
            Rule("required-fields", r.required_fields),
            Rule("recipient-is-licensor-country", r.recipient_is_licensor_country),
            RECIPIENT_UNRESTRICTED,
        ),
        help="send a drafted request to the National Security Council review",
        done="submitted {ref}",
    ),
    Event(
        "return", (NSC_REVIEW,), DRAFTED, (REVIEWER, APPROVER),
        rules=(REASON,),
        help="return without action: the drafter fixes and resubmits",
        done="returned {ref} without action",
    ),
    Event(
        "approve_for_us", (NSC_REVIEW,), APPROVED_FOR_US, (APPROVER,),
        rules=(SOD_DECIDER, RECIPIENT_UNRESTRICTED),
        help="approve the transfer to the licensor country",
        done="approved {ref} for transfer to {recipient}",
    ),
    Event(
        "deny", (NSC_REVIEW, THIRD_COUNTRY_REVIEW), DENIED, (APPROVER,),
        rules=(REASON, SOD_DECIDER),
        help="deny the request (final)",
        done="denied {ref}",
    ),
    Event(
        "withdraw", (DRAFTED, NSC_REVIEW), WITHDRAWN, (OWN_DRAFTER, ADMIN),
        rules=(REASON,),
        help="withdraw the request (final)",
        done="withdrew {ref}",
    ),
    Event(
        "request_third_country", (APPROVED_FOR_US,), THIRD_COUNTRY_REVIEW,
        (OWN_DRAFTER, APPROVER, ADMIN),
        rules=(
            Rule("third-country-named", r.third_country_named, uses_args=True),
            Rule("third-country-unrestricted", r.third_country_unrestricted, uses_args=True),
            Rule("decision-in-later-year", r.decision_in_later_year, uses_args=True),
        ),
        args={"country": "country", "decision_date": "date"},
        defaults=_third_country_defaults,
        effect=_set_third_country,
        sets=("third_country", "decision_date"),
        recorded={"country": "third_country", "decision_date": "decision_date"},
        help="record the recipient's request to pass the equipment to a third country",
        done="recorded the request to pass {ref} on to {third_country}",
    ),
    Event(
        "defer", (THIRD_COUNTRY_REVIEW,), THIRD_COUNTRY_REVIEW, (APPROVER,),
        rules=(REASON, Rule("later-date-exists", r.later_date_exists),
               Rule("decision-date-later", r.new_decision_date_later, uses_args=True)),
        args={"decision_date": "date"},
        effect=_set_decision_date,
        sets=("decision_date",),
        recorded={"decision_date": "decision_date"},
        help="postpone the third-country decision to a later date",
        done="deferred the third-country decision on {ref} to {decision_date}",
    ),
    Event(
        "approve", (THIRD_COUNTRY_REVIEW,), APPROVED, (APPROVER,),
        rules=(
            Rule("decision-date-reached", r.decision_date_reached),
            Rule("third-country-unrestricted", r.kept_third_country_unrestricted),
            Rule(SEPARATION_RULE, r.not_drafter_nor_third_country_requester),
        ),
        help="consent to the third-country transfer (final)",
        done="consented to passing {ref} on to {third_country}",
    ),
)

PROCESS = Process(
    name="transfer-request",
    version="transfer-request/1",
    ref_prefix="TR",
    states=(DRAFTED, NSC_REVIEW, APPROVED_FOR_US, THIRD_COUNTRY_REVIEW, APPROVED, DENIED,
            WITHDRAWN),
    initial=DRAFTED,
    finals=(APPROVED, DENIED, WITHDRAWN),
    events=EVENTS,
    fields=FIELDS,
    roles=ROLES,
    create_roles=("drafter",),
    edit_permits=(OWN_DRAFTER,),
    edit_states=(DRAFTED,),
    due_state=THIRD_COUNTRY_REVIEW,
    due_field="decision_date",
    decisions=("approve_for_us", "deny", "defer", "approve"),
    create_done="drafted {ref}",
    separation={
        "approve_for_us": ("create", "submit"),
        "deny": ("create", "submit"),
        "approve": ("create", "request_third_country"),
    },
    policy_subject="country",
    policy_subject_kind="country",
    policy_kinds=KINDS,
    seed_policy=SEEDED_RESTRICTIONS,
)
