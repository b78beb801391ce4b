"""Diagrams drawn from a process definition, optionally marking one record's path through it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from workflow.process import Process


def _edges(process: Process) -> list[tuple[str, str, str]]:
    return [(src, e.dest, e.name) for e in process.events for src in e.sources]


def _taken(process: Process,
           path: Sequence[dict[str, Any]]) -> dict[tuple[str, str, str], list[str]]:
    """Each transition taken, with 'step. actor date' notes, keyed like ``_edges``."""
    events = {e.name for e in process.events}
    marks: dict[tuple[str, str, str], list[str]] = {}
    step = 0
    for row in path:
        if row["event"] not in events:
            continue
        step += 1
        marks.setdefault((row["from"], row["to"], row["event"]), []).append(
            f"{step}. {row['actor']} {row['at'][:10]}"
        )
    return marks


def mermaid(process: Process, path: Sequence[dict[str, Any]] = (),
            current: str | None = None) -> str:
    marks = _taken(process, path)
    visited = {row["to"] for row in path}
    lines = ["stateDiagram-v2", f"    [*] --> {process.initial}"]
    for src, dest, event in _edges(process):
        label = event
        if (src, dest, event) in marks:  # a label ends at ":" or ";" in Mermaid's grammar
            label += " ✔ " + ", ".join(marks[(src, dest, event)])
        lines.append(f"    {src} --> {dest}: {label}")
    lines += [f"    {final} --> [*]" for final in process.finals]
    if path:
        lines.append("    classDef visited fill:#dbeafe,stroke:#1d4ed8")
        lines.append("    classDef current fill:#fde68a,stroke:#b45309,stroke-width:3px")
        for state in sorted(visited - {current}):
            lines.append(f"    class {state} visited")
    if current:
        lines.append(f"    class {current} current")
    return "\n".join(lines) + "\n"


def dot(process: Process, path: Sequence[dict[str, Any]] = (), current: str | None = None) -> str:
    marks = _taken(process, path)
    visited = {row["to"] for row in path}
    lines = [f'digraph "{process.name}" {{', "    rankdir=LR;",
             "    node [shape=box, style=rounded];"]
    for state in process.states:
        attrs = []
        if state in process.finals:
            attrs.append("peripheries=2")
        if state == current:
            attrs.append('style="rounded,filled", fillcolor="#fde68a", penwidth=3')
        elif state in visited:
            attrs.append('style="rounded,filled", fillcolor="#dbeafe"')
        lines.append(f"    {state}" + (f" [{', '.join(attrs)}]" if attrs else "") + ";")
    for src, dest, event in _edges(process):
        if (src, dest, event) in marks:
            note = "\\n".join(marks[(src, dest, event)])
            lines.append(f'    {src} -> {dest} [label="{event}\\n{note}", color="#1d4ed8", '
                         "penwidth=2];")
        else:
            lines.append(f'    {src} -> {dest} [label="{event}"];')
    lines.append("}")
    return "\n".join(lines) + "\n"
