"""qa's inference (NLI) model: the shipped artifact, and the `contradiction` conflicts built
with it. Real model, real FAISS."""

from __future__ import annotations

import json
import shutil

import pytest
from click.testing import CliRunner

from qa.cli import cli
from qa.conflicts import comparable
from qa.errors import ModelNotInstalledError
from qa.models.nli import ARTIFACT_DIR, Judge, shipped_judge

from ..conftest import QUESTIONS
from .test_audit import _ask_json, small_index  # noqa: F401 - the fixture is used by name

CONTRADICTION = ("The museum is open to visitors every day of the year.",
                 "The museum is not open to visitors on any day of the year.")
ENTAILMENT = ("The museum is open to visitors every day of the year.",
              "Visitors can go to the museum every day.")


def test_shipped_artifact_scores_a_contradiction_above_an_entailment():
    judge = shipped_judge()
    contradiction, entailment = judge.contradiction([CONTRADICTION, ENTAILMENT])
    assert contradiction >= judge.card.contradiction_threshold > entailment
    (probabilities,) = judge.probabilities([ENTAILMENT])
    assert probabilities.argmax() == 0  # entailment


def test_shipped_artifact_is_small_and_carded():
    card = json.loads((ARTIFACT_DIR / "card.json").read_text())
    onnx = ARTIFACT_DIR / card["runtime"]["onnx_file"]
    assert onnx.stat().st_size <= 25 * 1024 * 1024
    assert {"data", "settings", "validation", "baselines", "threshold", "runtime"} <= set(card)
    shipped = card["validation"][card["shipped_form"]]
    assert shipped["accuracy"] > card["baselines"]["lexical"]["accuracy"] > card["baselines"]["majority"]["accuracy"]


def test_a_corrupt_or_missing_artifact_is_a_clear_error_naming_the_fix(tmp_path):
    copy = tmp_path / "nli"
    shutil.copytree(ARTIFACT_DIR, copy)
    onnx = next(copy.glob("*.onnx"))
    data = bytearray(onnx.read_bytes())
    data[len(data) // 2] ^= 0xFF
    onnx.write_bytes(bytes(data))
    with pytest.raises(ModelNotInstalledError, match="reinstall.*training/nli_model.py"):
        Judge(copy)
    onnx.unlink()
    with pytest.raises(ModelNotInstalledError, match="missing or corrupt"):
        Judge(copy)
    (copy / "card.json").unlink()
    with pytest.raises(ModelNotInstalledError, match="reinstall"):
        Judge(copy)


CANAL = {
    "canal-guide.txt": "= The Old Canal =\n\nThe towpath along the Old Canal is open to cyclists all year round.\n",
    "canal-notice.txt": "= Notice from the canal trust =\n\nThe towpath along the Old Canal is not open to cyclists "
                        "at any time of the year.\n",
}


def test_a_source_negating_another_is_a_contradiction_cited_on_both_sides_with_a_warning(small_index):  # noqa: F811
    index_dir = small_index(CANAL)
    question = "Is the towpath along the Old Canal open to cyclists?"
    data = _ask_json(index_dir, question)
    assert data["grounded"] is True
    (conflict,) = [c for c in data["conflicts"] if c["kind"] == "contradiction"]
    by_n = {c["n"]: c for c in data["citations"]}
    assert {by_n[n]["path"] for n in conflict["claims"]} == set(CANAL)
    assert conflict["values"] == [by_n[n]["quote"] for n in conflict["claims"]]
    human = CliRunner().invoke(cli, ["ask", question, "--index-dir", str(index_dir)])
    warning = [line for line in human.output.splitlines() if line.startswith("Warning: the sources contradict")]
    assert len(warning) == 1 and "not open" in warning[0] and "all year round" in warning[0]


def test_sources_that_agree_are_no_contradiction(small_index):  # noqa: F811
    index_dir = small_index({
        "canal-guide.txt": CANAL["canal-guide.txt"],
        "canal-notice.txt": "= Notice from the canal trust =\n\nCyclists may use the towpath along the Old Canal "
                            "in every season of the year.\n",
    })
    data = _ask_json(index_dir, "Is the towpath along the Old Canal open to cyclists?")
    assert data["grounded"] is True and data["conflicts"] == []


@pytest.mark.parametrize(("a", "b", "expected"), [
    ("The Harbour Accord had 258 signatories in 2002.", "In 2017 the Harbour Accord had 300 signatories.", False),
    ("The Harbour Accord had 258 signatories.", "Today the Harbour Accord has 300 signatories.", False),
    ("The Harbour Accord had 258 signatories in 2002.", "The Harbour Accord had 300 signatories in 2002.", True),
    (CONTRADICTION[0], CONTRADICTION[1], True),
    ("The museum is open every day.", "The harbour was dredged by a Dutch company.", False),  # not about the same things
])
def test_only_sentences_about_the_same_things_at_the_same_time_are_compared(a, b, expected):
    assert comparable(a, b) is expected
    assert comparable(b, a) is expected


def test_no_contradiction_on_the_shipped_corpus_questions(shipped_index):
    """The shipped corpus' documents do not contradict each other: no answer to its questions
    may claim they do."""
    questions = [json.loads(line)["question"] for line in QUESTIONS.read_text(encoding="utf-8").splitlines() if line.strip()]
    false = {q: [c.to_dict() for c in answer.conflicts if c.kind == "contradiction"]
             for q in questions for answer in [shipped_index.answer(q)]}
    assert {q: c for q, c in false.items() if c} == {}
