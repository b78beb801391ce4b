"""The main path through the CLI, end to end."""

from __future__ import annotations

import json

import pytest

from tests.conftest import PATRIOT


def _new_args() -> list[str]:
    args = ["request", "new"]
    for key, value in PATRIOT.items():
        args += ["--" + key.replace("_", "-"), str(value)]
    return args


def test_patriot_story_through_the_cli(run_ready):
    created = run_ready(*_new_args(), "--json", actor="dan")
    assert created.exit_code == 0, created.stderr
    ref = json.loads(created.stdout)["ref"]
    assert ref == "TR-2026-0001"
    assert run_ready("advance", ref, "submit", actor="dan").stdout.strip() == "nsc_review"
    assert run_ready("advance", ref, "approve_for_us", actor="ann").exit_code == 0
    refused = run_ready("advance", ref, "request_third_country", "--country", "UA", actor="dan")
    assert refused.exit_code == 1
    assert refused.stdout == ""
    assert refused.stderr.strip() == (
        "error: request_third_country refused: UA is restricted (in-combat since 2022-02-24) "
        "[rule: third-country-unrestricted]"
    )
    ok = run_ready("advance", ref, "request_third_country", "--country", "PL", actor="dan")
    assert ok.stdout.strip() == "third_country_review"
    shown = json.loads(run_ready("request", "show", ref, "--json", actor="aud").stdout)
    assert shown["third_country"] == "PL"
    assert shown["decision_date"] == "2027-01-01"
    history = json.loads(run_ready("history", ref, "--json", actor="aud").stdout)
    assert [h["event"] for h in history] == [
        "create", "submit", "approve_for_us", "request_third_country"]


@pytest.mark.parametrize("module", ["cli", "cli.entry"])
def test_python_dash_m_runs_the_program(module, tmp_path):
    import subprocess
    import sys

    ran = subprocess.run([sys.executable, "-m", module, "--db", str(tmp_path / "x.db"),
                          "user", "list"], capture_output=True, text=True, check=False)
    assert ran.returncode == 1
    assert ran.stderr.startswith("error: no workflow database at")
