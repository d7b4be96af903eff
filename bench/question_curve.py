"""The shipped question set as the refusal threshold moves: each question answered once at
threshold 0 (the answer the model would give), then refused or not at each threshold.

    python bench/question_curve.py [questions/shipped-corpus.jsonl]
"""

from __future__ import annotations

import sys
from pathlib import Path

from _common import ROOT

import qa
from qa.evaluation import evaluate_questions, read_questions

THRESHOLDS = (0.0, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6)


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "questions" / "shipped-corpus.jsonl"
    index = qa.open_index(ROOT / "embeddings")
    report = evaluate_questions(lambda q: index.answer(q, threshold=0.0), read_questions(path))
    shipped = qa.answer_model().card.threshold
    rows = report.results
    yes = [r for r in rows if r.answerable]
    near = [r for r in rows if r.kind == "near"]
    off = [r for r in rows if not r.answerable and r.kind != "near"]
    print(f"{len(yes)} answerable, {len(near)} near-domain, {len(off)} off-topic; shipped threshold {shipped}")
    print("| threshold | " + " | ".join(f"{t:.2f}" for t in (*THRESHOLDS, shipped)) + " |")
    print("|---" * (len(THRESHOLDS) + 2) + "|")
    for name, group, score in (
            ("answerable answered right", yes, lambda r, t: r.confidence >= t and r.contains_expected),
            ("near-domain refused", near, lambda r, t: r.confidence < t),
            ("off-topic refused", off, lambda r, t: r.confidence < t)):
        cells = [sum(score(r, t) for r in group) / max(1, len(group)) for t in (*THRESHOLDS, shipped)]
        print(f"| {name} | " + " | ".join(f"{c:.3f}" for c in cells) + " |")


if __name__ == "__main__":
    main()
