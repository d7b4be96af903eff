"""A conversation: questions in sequence, where a follow-up may lean on the previous turn."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from qa.answering import key_terms
from qa.api import Index, check_question
from qa.safety import markdown_literal
from qa.types import Answer

# Pronouns that point back at an earlier question ("How many parties signed it?").
_ANAPHORA = re.compile(r"\b(it|its|they|them|their|theirs|he|him|his|she|her|this|these|those|the same)\b", re.I)


@dataclass(frozen=True)
class Turn:
    question: str
    answer: Answer


class Conversation:
    """Questions in sequence, where a follow-up may lean on the previous turn.

    A follow-up is read with the previous question's key terms added to the search when it
    points back ("it", "they", "this") or when it cannot be answered alone but can with them.
    The answer's ``assumption`` says so.
    """

    def __init__(self, index: Index, k: int = 5, mode: str = "hybrid") -> None:
        self.index = index
        self.k = k
        self.mode = mode
        self.turns: list[Turn] = []

    def reset(self) -> None:
        self.turns.clear()

    def restore(self, turns: Iterable[tuple[str, Answer]]) -> None:
        """Continue a saved conversation: its turns become the context of the next question."""
        self.turns = [Turn(question, answer) for question, answer in turns]

    def to_markdown(self) -> str:
        """The conversation with every answer's citations, as Markdown."""
        md = markdown_literal  # questions, answers, titles, quotes and paths are all untrusted
        out = ["# qa conversation", ""]
        corpus = self.index.manifest.corpus
        out += [f"Corpus: {md(corpus)} · model: {md(self.index.model_name)}", ""]
        for number, turn in enumerate(self.turns, start=1):
            answer = turn.answer
            out += [f"## {number}. {md(turn.question)}", ""]
            if answer.assumption:
                out += [f"*({md(answer.assumption)})*", ""]
            out += [md(answer.text), ""]
            if answer.grounded:
                for c in answer.citations:
                    out.append(f"{md(f'[{c.n}]')} {md(c.location)} \u2014 {md(c.title)}: \u201c{md(c.text)}\u201d")
                    out.append("")
            else:
                out.append("Closest matches (not answers):")
                out.append("")
                for hit in answer.passages:
                    out.append(f"- {md(hit.location)} \u2014 {md(hit.title)}")
            out.append("")
        return "\n".join(out)

    def _context(self) -> tuple[str, list[str]] | None:
        for turn in reversed(self.turns):
            if turn.answer.grounded:
                return turn.question, key_terms(turn.question)
        return None

    def ask(self, question: str) -> Answer:
        question = check_question(question)
        context = self._context()
        answer = self.index.answer(question, self.k, self.mode)
        if context is not None:
            previous, terms = context
            new_terms = [t for t in terms if t not in key_terms(question)]
            if new_terms and (_ANAPHORA.search(question) or not answer.grounded):
                expanded_query = f"{question} {previous}"
                expanded = self.index.answer(
                    question, self.k, self.mode, search_query=expanded_query,
                    assumption=f"read as a follow-up to \u201c{previous}\u201d",
                )
                # Only an answer the context made possible is worth the assumption; when both
                # refuse, the plain refusal stands (it would be wrong to claim a reading).
                if expanded.grounded:
                    answer = expanded
        self.turns.append(Turn(question, answer))
        return answer
