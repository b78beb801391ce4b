"""The benchmark suite keeps working: a quick run prints its table and writes every figure.

Timings are never asserted here (machines are noisy); only that each figure was measured
against its baseline.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXPECTED = {
    "fire, one transaction each (SQLite)",
    "bulk advance, one transaction (SQLite)",
    "bulk import, one transaction (SQLite)",
    "workflow --help (start-up)",
    "request show REF (big database)",
    "history REF (big database)",
    "audit verify (big database)",
    "audit verify --jobs 1 (big database)",
    "audit verify vs leaf bytes alone",
    "audit verify peak memory",
    "audit export peak memory",
}


def test_quick_benchmark_run_measures_every_figure_against_a_baseline(tmp_path):
    out = tmp_path / "results.json"
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "run.py"), "--quick",
                           "--json", str(out)], capture_output=True, text=True, timeout=600,
                          check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "ratio" in done.stdout.splitlines()[0]
    results = json.loads(out.read_text())
    names = {r["name"] for r in results["results"]}
    assert names >= EXPECTED
    for result in results["results"]:
        assert result["ours"] > 0 and result["baseline"] > 0, result
        assert result["ratio"] == round(result["ours"] / result["baseline"], 3)
    firings = [r for r in results["results"] if r["unit"] in ("firings/s", "rows/s")]
    assert firings and all(r["note"].startswith("median of 2 interleaved rounds; each round's "
                                                "ratio: ") for r in firings)
