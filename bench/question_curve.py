"""The shipped question set as the refusal threshold moves: each question answered once at
threshold 0 (the answer the model would give), then refused or not at each threshold.

    python bench/question_curve.py [questions/shipped-corpus.jsonl]
"""

from __future__ import annotations

import sys
from pathlib import Path

from _common import ROOT

import qa
from qa.evaluation import QuestionReport, evaluate_questions, read_questions

THRESHOLDS = (0.0, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6)


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "questions" / "shipped-corpus.jsonl"
    index = qa.open_index(ROOT / "embeddings")
    report = evaluate_questions(lambda q: index.answer(q, threshold=0.0), read_questions(path))
    shipped = qa.answer_model().card.threshold
    rows = report.results
    groups = {"answerable answered right": ([r for r in rows if r.answerable], "answered_right"),
              "near-domain refused": ([r for r in rows if r.kind == "near"], "refused_unanswerable"),
              "off-topic refused": ([r for r in rows if not r.answerable and r.kind != "near"], "refused_unanswerable")}
    thresholds = (*THRESHOLDS, shipped)
    print(", ".join(f"{len(g)} {name.split()[0]}" for name, (g, _) in groups.items()) + f"; shipped threshold {shipped}")
    print("| threshold | " + " | ".join(f"{t:.2f}" for t in thresholds) + " |")
    print("|---" * (len(thresholds) + 1) + "|")
    for name, (group, figure) in groups.items():  # QuestionReport.sweep per group
        cells = [row[figure] for row in QuestionReport(tuple(group)).sweep(thresholds)]
        print(f"| {name} | " + " | ".join(f"{c:.3f}" for c in cells) + " |")


if __name__ == "__main__":
    main()
