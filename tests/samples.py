"""Sample data the tests and their worker scripts share (plain Python, importable by both).

``DOMAIN_TABLE`` restates DOMAIN.md's process table independently of ``states/``, so the tests
check the code against the domain, not against itself.
"""

from __future__ import annotations

from typing import Any

CAST = {
    "dan": ["drafter"],
    "dora": ["drafter"],
    "rita": ["reviewer"],
    "ann": ["approver"],
    "abe": ["approver"],
    "aud": ["auditor"],
    "duo": ["approver", "drafter"],
}

PATRIOT: dict[str, Any] = {
    "item": "PAC-3 MSE interceptor",
    "quantity": 16,
    "manufacturer": "Mitsubishi Heavy Industries",
    "licensor": "Lockheed Martin / RTX",
    "licensor_country": "US",
    "recipient": "US",
    "end_user": "US Army",
    "consent_instrument": "Japan-US Mutual Defense Assistance Agreement",
}

# event -> (sources, target), as in the DOMAIN.md process table
DOMAIN_TABLE: dict[str, tuple[tuple[str, ...], str]] = {
    "submit": (("drafted",), "nsc_review"),
    "return": (("nsc_review",), "drafted"),
    "approve_for_us": (("nsc_review",), "approved_for_us"),
    "deny": (("nsc_review", "third_country_review"), "denied"),
    "withdraw": (("drafted", "nsc_review"), "withdrawn"),
    "request_third_country": (("approved_for_us",), "third_country_review"),
    "defer": (("third_country_review",), "third_country_review"),
    "approve": (("third_country_review",), "approved"),
}
