"""qa's own answer model: the shipped artifact, and the answers built with it."""

from __future__ import annotations

import json
import shutil

import pytest

import qa
from qa.answering import is_sentence
from qa.errors import ModelNotInstalledError
from qa.models.reader import ARTIFACT_DIR, Reader, shipped_reader

from ..conftest import CORPUS

ANSWERING = ("The Pyongyang Declaration was signed by a number of political parties on 20 April 1992 "
             "and calls for the unity of the socialist camp.")
NOT_ANSWERING = ("The Pyongyang Declaration calls for the unity of the socialist camp and a vow to "
                 "safeguard socialism, and many parties have endorsed it since.")


def test_shipped_artifact_scores_an_answering_sentence_above_a_non_answering_one():
    reader = shipped_reader()
    yes, no = reader.read("When was the Pyongyang Declaration signed?", [ANSWERING, NOT_ANSWERING])
    assert yes.probability > no.probability
    assert yes.probability > reader.card.threshold > no.probability
    assert "1992" in ANSWERING[yes.start:yes.end]


def test_shipped_artifact_is_small_and_carded():
    card = json.loads((ARTIFACT_DIR / "card.json").read_text())
    onnx = ARTIFACT_DIR / card["runtime"]["onnx_file"]
    assert onnx.stat().st_size <= 25 * 1024 * 1024
    assert {"data", "settings", "validation", "calibration", "runtime"} <= set(card)


def test_a_corrupt_artifact_is_a_clear_error_naming_the_fix(tmp_path):
    copy = tmp_path / "answer"
    shutil.copytree(ARTIFACT_DIR, copy)
    onnx = next(copy.glob("*.onnx"))
    data = bytearray(onnx.read_bytes())
    data[len(data) // 2] ^= 0xFF
    onnx.write_bytes(bytes(data))
    with pytest.raises(ModelNotInstalledError, match="reinstall"):
        Reader(copy)
    (copy / "card.json").unlink()
    with pytest.raises(ModelNotInstalledError, match="reinstall"):
        Reader(copy)


def test_windows_cover_a_passage_longer_than_the_model_reads():
    reader = shipped_reader()
    filler = "The committee met again and discussed routine matters of procedure. " * 60
    passage = filler + "The bridge was opened to traffic on 3 March 1931."
    (reading,) = reader.read("When was the bridge opened to traffic?", [passage])
    assert "1931" in passage[reading.start:reading.end]


@pytest.mark.parametrize("text", [
    "= Pyongyang Declaration =",
    "== Signatories ==",
    "## Background and history",
    "- International Meeting of Communist and Workers' Parties",
    "|---|---|---|",
    "| 1992 | 69 | parties |",
    "Home | News | About us | Contact",
    "!!! note",
])
def test_headings_markup_and_fragments_are_not_sentences(text):
    assert not is_sentence(text)


@pytest.mark.parametrize("text", [
    "The Declaration was originally signed on 20 April 1992 by 69 parties.",
    "- The number of signatories reached 300 in 2017, according to the party's own count.",
])
def test_sentences_and_sentence_bullets_are_sentences(text):
    assert is_sentence(text)


def test_a_heading_is_never_quoted(shipped_index):
    for question in ["What is the Pyongyang Declaration?", "Pyongyang Declaration",
                     "International Meeting of Communist and Workers' Parties"]:
        answer = qa.ask(question, index=shipped_index)
        for citation in answer.citations:
            assert is_sentence(citation.quote), citation.quote


def test_answer_span_is_verbatim_at_its_offsets(shipped_index):
    answer = qa.ask("When was the Pyongyang Declaration signed?", index=shipped_index)
    assert answer.grounded and answer.answer_span is not None
    span = answer.answer_span
    raw = (CORPUS / span.path).read_text(encoding="utf-8")
    assert raw[span.start_char:span.end_char] == span.text
    assert "1992" in span.text
    cited = answer.citations[span.citation - 1]
    assert cited.start_char <= span.start_char and span.end_char <= cited.end_char
    assert answer.text.startswith(" ".join(span.text.split()))
    assert answer.to_dict()["answer_span"]["text"] == span.text


@pytest.mark.parametrize("question", [
    "How many parties signed the declaration in 2010?",
    "What was the budget of the Workers' Party of Korea in 2016?",
])
def test_near_domain_unanswerable_questions_are_refused(shipped_index, question):
    answer = qa.ask(question, index=shipped_index)
    assert not answer.grounded, answer.text
    assert answer.citations == () and answer.answer_span is None


def test_confidence_is_a_probability(shipped_index):
    for question in ["When was the Pyongyang Declaration signed?", "What is the capital of Australia?"]:
        answer = qa.ask(question, index=shipped_index)
        assert 0.0 <= answer.confidence <= 1.0
