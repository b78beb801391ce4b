"""README stays true: every command is in its reference, and its examples run as written."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import click

from cli.main import cli

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def _commands(group: click.Group, prefix: str = "workflow") -> list[str]:
    found = []
    for name, command in group.commands.items():
        path = f"{prefix} {name}"
        if isinstance(command, click.Group):
            found += _commands(command, path)
        else:
            found.append(path)
    return found


def _block(heading: str, language: str) -> str:
    section = README.split(heading, 1)[1]
    match = re.search(rf"```{language}\n(.*?)```", section, re.S)
    assert match, f"no {language} block under {heading}"
    return match.group(1)


def test_every_command_appears_in_the_cli_reference():
    reference = README.split("## CLI reference", 1)[1]
    missing = [c for c in _commands(cli) if f"`{c}" not in reference]
    assert missing == []


def test_the_quickstart_runs_as_written(tmp_path):
    script = "set -euo pipefail\n" + _block("## Quickstart", "sh")
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKFLOW_")}
    done = subprocess.run(["bash", "-c", script], cwd=tmp_path, capture_output=True, text=True,
                          env=env, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "third_country_review" in done.stdout
    assert "UA is restricted (in-combat since 2022-02-24)" in done.stderr
    assert "the decision is scheduled for" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_api_example_runs_as_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    exec(compile(_block("## Python API", "python"), "README.md", "exec"), {})
    assert (tmp_path / "workflow.db").exists()
