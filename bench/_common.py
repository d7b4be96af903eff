"""Shared by the benchmarks: where SciFact lives and a scratch folder outside the repo.

SciFact is CC BY-NC: it is read from ../shared/bench/scifact, never copied into the repo.
"""

from __future__ import annotations

import os
import statistics
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCIFACT = Path(os.environ.get("QA_SCIFACT", ROOT.parent / "shared" / "bench" / "scifact"))
SCRATCH = Path(os.environ.get("QA_BENCH_SCRATCH", Path(tempfile.gettempdir()) / "qa-bench"))


def require_scifact() -> Path:
    if not (SCIFACT / "corpus.jsonl").is_file():
        raise SystemExit(f"SciFact not found at {SCIFACT}; set QA_SCIFACT to its folder")
    return SCIFACT


def spread(values: list[float]) -> str:
    ordered = sorted(values)
    return (f"median {statistics.median(ordered):.3f}  min {ordered[0]:.3f}  max {ordered[-1]:.3f}"
            f"  (n={len(ordered)})")
