"""Retrieval and answers on the shipped corpus: the issues' must-shows, with the real model."""

from __future__ import annotations

import pytest

import qa
from qa.evaluation import evaluate_questions, read_questions

from ..conftest import CORPUS, QUESTIONS


def quote_is_at_its_span(citation) -> bool:
    raw = (CORPUS / citation.path).read_text(encoding="utf-8")
    lines = raw.splitlines(keepends=True)
    at_lines = "".join(lines[citation.start_line - 1: citation.end_line])
    return raw[citation.start_char:citation.end_char] == citation.quote and citation.quote in at_lines


def test_search_puts_the_declaration_passage_first(shipped_index):
    hit = shipped_index.search("When was the Pyongyang Declaration signed?", k=5)[0]
    assert hit.path == "pyongyang-declaration-1992.txt"
    assert "20 April 1992" in hit.text
    raw = (CORPUS / hit.path).read_text(encoding="utf-8").splitlines()
    assert "20 April 1992" in "\n".join(raw[hit.start_line - 1: hit.end_line])


@pytest.mark.parametrize("mode", ["dense", "lexical", "hybrid"])
def test_every_mode_finds_the_declaration(shipped_index, mode):
    hits = shipped_index.search("Pyongyang Declaration signatories", k=3, mode=mode)
    assert hits[0].path == "pyongyang-declaration-1992.txt"
    assert [h.rank for h in hits] == [1, 2, 3]
    assert all(a.score >= b.score for a, b in zip(hits, hits[1:], strict=False))


def test_declaration_date_is_answered_with_a_verifiable_citation(shipped_index):
    answer = qa.ask("When was the Pyongyang Declaration signed?", index=shipped_index)
    assert answer.grounded
    assert "20 April 1992" in answer.text
    assert answer.citations and all(quote_is_at_its_span(c) for c in answer.citations)
    assert "[1]" in answer.text
    retrieved = {(p.path, p.start_char, p.end_char) for p in answer.passages}
    for c in answer.citations:  # nothing is cited that was not retrieved
        assert any(path == c.path and s <= c.start_char and c.end_char <= e for path, s, e in retrieved)


@pytest.mark.parametrize("question", ["What is the capital of Australia?", "Who won the 2018 FIFA World Cup?"])
def test_questions_the_corpus_cannot_answer_are_refused(shipped_index, question):
    answer = qa.ask(question, index=shipped_index)
    assert not answer.grounded
    assert answer.citations == ()
    assert answer.passages  # closest matches are still shown
    assert "don't say" in answer.text


def test_follow_up_question_uses_the_previous_turn(shipped_index):
    conversation = qa.Conversation(shipped_index)
    first = conversation.ask("When was the Pyongyang Declaration signed?")
    assert "20 April 1992" in first.text
    second = conversation.ask("How many signatories were there in 2017?")
    assert second.grounded and "300" in second.text


def test_pronoun_follow_up_says_what_it_assumed(shipped_index):
    conversation = qa.Conversation(shipped_index)
    conversation.ask("When was the Pyongyang Declaration signed?")
    answer = conversation.ask("How many parties signed it?")
    assert answer.grounded and "69" in answer.text
    assert answer.assumption and "Pyongyang Declaration" in answer.assumption


def test_the_question_set_holds_its_measured_quality(shipped_index):
    # Regression guards at the shipped answer model's measured levels (README "Answer quality"),
    # not the targets (0.95 answerable right, 0.80 near-domain refused), which the
    # current model does not reach.
    records = read_questions(QUESTIONS)
    assert sum(r["answerable"] for r in records) >= 40
    assert sum(r.get("kind") == "near" for r in records) >= 30
    metrics = evaluate_questions(lambda q: shipped_index.answer(q), records).metrics()
    assert metrics["answer_contains_expected"] >= 0.65
    assert metrics["refusal_rate_near_domain"] >= 0.70
    assert metrics["refusal_rate_off_topic"] == 1.0


@pytest.mark.parametrize("question", ["", "   ", "a\x00b", "x" * 100_000])
def test_unaskable_questions_are_a_clear_error(shipped_index, question):
    with pytest.raises(qa.QAError):
        shipped_index.answer(question)


@pytest.mark.parametrize("question", ["???", "!!! ... ,,,", "\u2603\u2603", "the of and"])
def test_junk_questions_are_refused_not_crashed(shipped_index, question):
    answer = shipped_index.answer(question)
    assert not answer.grounded


def test_unanswerable_follow_up_is_a_plain_refusal_without_assumption(shipped_index):
    conversation = qa.Conversation(shipped_index)
    conversation.ask("When was the Pyongyang Declaration signed?")
    answer = conversation.ask("What is the capital of Australia?")
    assert not answer.grounded
    assert answer.assumption is None
