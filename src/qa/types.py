"""Plain data passed between the steps of the pipeline. All frozen: steps never mutate it."""

from __future__ import annotations

import bisect
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Document:
    """One loaded file.

    ``text`` is the decoded text; every char offset in qa is an index into it. For .txt and .md
    it is the file's own text, so a citation's quote is found verbatim at its span in the file.
    For .html and .pdf it is the extracted text, and line numbers count lines of that text.
    """

    path: str  # relative to the corpus root, POSIX separators
    title: str
    text: str
    sha256: str  # of the file's bytes
    line_starts: tuple[int, ...]  # char offset at which each line begins (line 1 at index 0)
    page_starts: tuple[int, ...] = ()  # PDF only: char offset at which each page begins

    def line_of(self, char: int) -> int:
        """1-based line holding char offset ``char``."""
        return bisect.bisect_right(self.line_starts, char)

    def page_of(self, char: int) -> int | None:
        """1-based page holding ``char``, or None for documents without pages."""
        if not self.page_starts:
            return None
        return bisect.bisect_right(self.page_starts, char)


def line_starts_of(text: str) -> tuple[int, ...]:
    """Offsets of the first char of every line. Lines end at \\n (so \\r\\n counts once)."""
    starts = [0]
    pos = text.find("\n")
    while pos != -1:
        starts.append(pos + 1)
        pos = text.find("\n", pos + 1)
    return tuple(starts)


@dataclass(frozen=True)
class Chunk:
    """A span of one document, the unit that is embedded and retrieved.

    ``text == document.text[start_char:end_char]`` always holds.
    """

    path: str
    title: str
    heading_path: tuple[str, ...]
    text: str
    start_char: int
    end_char: int
    start_line: int
    end_line: int
    page: int | None = None

    def embedding_text(self) -> str:
        """What the model sees: the chunk prefixed by where it sits, so a passage that only
        says "it was signed in 1992" still matches a question naming the document."""
        context = " > ".join(dict.fromkeys((self.title, *self.heading_path)))
        return f"{context}\n{self.text}" if context else self.text


class _Located:
    """``path:start_line-end_line``, the form every citation and hit is shown in."""

    path: str
    start_line: int
    end_line: int

    @property
    def location(self) -> str:
        return f"{self.path}:{self.start_line}-{self.end_line}"


@dataclass(frozen=True)
class Hit(_Located):
    """A retrieved chunk with its scores. ``score`` orders hits within one search."""

    text: str
    path: str
    title: str
    heading_path: tuple[str, ...]
    start_line: int
    end_line: int
    start_char: int
    end_char: int
    score: float
    rank: int
    chunk_id: int
    page: int | None = None
    dense_score: float | None = None  # cosine similarity of query and chunk
    lexical_score: float | None = None  # BM25

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["heading_path"] = list(self.heading_path)
        return data


@dataclass(frozen=True)
class Citation(_Located):
    """One quoted sentence backing a claim. ``quote == document.text[start_char:end_char]``."""

    n: int
    path: str
    title: str
    start_line: int
    end_line: int
    start_char: int
    end_char: int
    quote: str
    score: float
    page: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class AnswerSpan:
    """The answer words inside citation ``citation``: ``document.text[start_char:end_char]``."""

    text: str
    path: str
    start_char: int
    end_char: int
    citation: int = 1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Answer:
    """An answer: cited sentences, or (``grounded`` False) a refusal with the closest passages."""

    question: str
    text: str
    grounded: bool
    citations: tuple[Citation, ...]
    passages: tuple[Hit, ...]
    confidence: float  # the answer model's calibrated probability that the passages answer
    assumption: str | None = None  # how a follow-up was read: "read as a follow-up to “…”"
    answer_span: AnswerSpan | None = None  # the short answer words, when the model is sure of them

    def to_dict(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "answer": self.text,
            "grounded": self.grounded,
            "confidence": round(self.confidence, 4),
            "assumption": self.assumption,
            "answer_span": self.answer_span.to_dict() if self.answer_span else None,
            "citations": [c.to_dict() for c in self.citations],
            "passages": [p.to_dict() for p in self.passages],
        }
