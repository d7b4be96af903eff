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
    For .html, .pdf and .docx it is the extracted text, and line numbers count lines of that
    text (a .docx line is one paragraph); ``source_lines`` maps an HTML text line back to the
    line of the file it came from.
    """

    path: str  # relative to the corpus root, POSIX separators
    title: str
    text: str
    sha256: str  # of the file's bytes
    line_starts: tuple[int, ...]  # char offset at which each line begins (line 1 at index 0)
    page_starts: tuple[int, ...] = ()  # PDF only: char offset at which each page begins
    source_lines: tuple[int, ...] = ()  # HTML only: the file's line for each line of ``text``

    def line_of(self, char: int) -> int:
        """1-based line holding char offset ``char``."""
        return bisect.bisect_right(self.line_starts, char)

    def page_of(self, char: int) -> int | None:
        """1-based page holding ``char``, or None for documents without pages."""
        if not self.page_starts:
            return None
        return bisect.bisect_right(self.page_starts, char)

    def source_line(self, line: int) -> int:
        """The line of the file that text line ``line`` comes from (the same line unless the
        text was extracted from markup that keeps a line map, i.e. HTML)."""
        if not self.source_lines:
            return line
        return self.source_lines[min(max(line, 1), len(self.source_lines)) - 1]


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
    """One quoted sentence backing a claim. ``quote == document.text[start_char:end_char]``;
    ``text`` is what a reader sees of it (``qa.layout.shown``: Markdown markup removed, a PDF's
    line breaks and hyphenation joined), equal to ``quote`` for plain text."""

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
    text: str = ""

    def __post_init__(self) -> None:
        if not self.text:  # a citation built without it shows its quote
            object.__setattr__(self, "text", self.quote)

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
class Conflict:
    """Cited sources that disagree: citations ``claims`` give different ``values`` (as the
    sources word them) for what the question asks (``kind`` "value": a date, count or name), or
    two cited sentences state what cannot both be true (``kind`` "contradiction", judged by
    the inference model; ``values`` are the two sentences)."""

    claims: tuple[int, ...]
    kind: str
    values: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"claims": list(self.claims), "kind": self.kind, "values": list(self.values)}

    def warning(self) -> str:
        """One line for people: which citation says what."""
        sides = " vs ".join(f"[{n}] \u201c{' '.join(v.split())}\u201d" for n, v in zip(self.claims, self.values, strict=True))
        if self.kind == "contradiction":
            return f"Warning: the sources contradict each other: {sides}"
        return f"Warning: the sources disagree: {sides}"


@dataclass(frozen=True)
class Fingerprint:
    """What an answer was computed from, so it can be reproduced and audited later."""

    qa_version: str
    corpus: str  # the corpus root every ``path`` is relative to
    encoder: str  # the embedding model's name
    encoder_sha256: str | None  # of the index's ONNX export of it (None: the index has none)
    answer_model_sha256: str
    generation: str  # the index generation that was searched
    manifest_sha256: str  # of that generation's manifest.json
    files: tuple[tuple[str, str], ...]  # (path, sha256) of each cited file, sorted by path
    nli_model_sha256: str | None = None  # of the inference model that looked for contradictions

    def to_dict(self) -> dict[str, Any]:
        return {
            "qa_version": self.qa_version,
            "encoder": {"name": self.encoder, "sha256": self.encoder_sha256},
            "answer_model": {"sha256": self.answer_model_sha256},
            "nli_model": {"sha256": self.nli_model_sha256},
            "index": {"generation": self.generation, "manifest_sha256": self.manifest_sha256},
            "files": dict(self.files),
        }


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
    conflicts: tuple[Conflict, ...] = ()  # cited sources that give different values
    fingerprint: Fingerprint | None = None  # set by the API: what the answer was computed from
    # why this answer (a qa.explain.Explanation, set by the API; typed loosely here because
    # types, the lowest step, must not import a later one)
    explain: Any = None

    def to_dict(self, explain: bool = False) -> dict[str, Any]:
        """JSON-ready, deterministic for the same question on the same index (no timestamps,
        rounded floats). ``explain`` adds the ``explain`` object when the answer has one."""
        data: dict[str, Any] = {}
        if self.fingerprint is not None:
            data["corpus"] = self.fingerprint.corpus
        data.update({
            "question": self.question,
            "answer": self.text,
            "grounded": self.grounded,
            "confidence": round(self.confidence, 4),
            "assumption": self.assumption,
            "answer_span": self.answer_span.to_dict() if self.answer_span else None,
            "citations": [c.to_dict() for c in self.citations],
            "passages": [p.to_dict() for p in self.passages],
            "conflicts": [c.to_dict() for c in self.conflicts],
        })
        if self.fingerprint is not None:
            data["fingerprint"] = self.fingerprint.to_dict()
        if explain and self.explain is not None:
            data["explain"] = self.explain.to_dict()
        return data
