"""Plain data passed between the steps of the pipeline. All frozen: steps never mutate it."""

from __future__ import annotations

import bisect
from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import Any

from qa.errors import IndexCorruptError


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


# ---------------------------------------------------------------------------------------------
# Index records: what the index directory stores about itself. Read back through ``from_json``,
# which checks every field's type, so a damaged or hand-edited file is an IndexCorruptError
# naming the field, never a KeyError or a wrong answer somewhere downstream.

def _get(data: Any, key: str, kind: type | tuple[type, ...], where: str, default: Any = ...) -> Any:
    if not isinstance(data, dict):
        raise IndexCorruptError.because(f"{where} is not a JSON object")
    if key not in data:
        if default is not ...:
            return default
        raise IndexCorruptError.because(f"{where} has no {key!r}")
    value = data[key]
    # bool is an int to Python, never to the index.
    if not isinstance(value, kind) or (isinstance(value, bool) and bool not in _kinds(kind)):
        expected = " or ".join(k.__name__ for k in _kinds(kind))
        raise IndexCorruptError.because(f"{where}: {key!r} is {type(value).__name__}, expected {expected}")
    return value


def _kinds(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _str_list(value: list[Any], where: str) -> tuple[str, ...]:
    if not all(isinstance(v, str) for v in value):
        raise IndexCorruptError.because(f"{where} holds a non-string")
    return tuple(value)


@dataclass(frozen=True)
class ChunkRecord:
    """A chunk as kept in ``chunks.jsonl`` (line *i* is FAISS row *i*), with the hash of its
    embedding text that lets an update reuse its vector."""

    chunk: Chunk
    text_hash: str

    def to_json(self, row: int) -> dict[str, Any]:
        c = self.chunk
        return {"id": row, "path": c.path, "title": c.title, "heading_path": list(c.heading_path),
                "start_char": c.start_char, "end_char": c.end_char, "start_line": c.start_line,
                "end_line": c.end_line, "page": c.page, "hash": self.text_hash, "text": c.text}

    @classmethod
    def from_json(cls, data: Any, row: int) -> ChunkRecord:
        where = f"chunk record {row}"
        if _get(data, "id", int, where) != row:
            raise IndexCorruptError.because(f"{where} has id {data['id']}")
        ints = {k: _get(data, k, int, where) for k in ("start_char", "end_char", "start_line", "end_line")}
        chunk = Chunk(
            path=_get(data, "path", str, where), title=_get(data, "title", str, where),
            heading_path=_str_list(_get(data, "heading_path", list, where), f"{where} heading_path"),
            text=_get(data, "text", str, where), page=_get(data, "page", (int, type(None)), where),
            **ints,
        )
        return cls(chunk, _get(data, "hash", str, where))


@dataclass(frozen=True)
class ModelRecord:
    name: str
    dim: int
    max_seq_length: int
    package: str


@dataclass(frozen=True)
class FileRecord:
    """One indexed file: what it held when indexed, so a change is noticed."""

    sha256: str
    bytes: int
    title: str
    chunks: int


@dataclass(frozen=True)
class Checksum:
    sha256: str
    bytes: int


@dataclass(frozen=True)
class ExportRecord:
    """The verified ONNX export: its file name and the checks it passed. With
    ``source_sha256`` (the model weights' sha256) it is the shared export in the user cache,
    ``<cache>/qa/onnx/<source_sha256>/<file>``; without, it is in the index's ``models/``."""

    file: str
    sha256: str
    min_probe_cosine: float
    probes: int
    source_sha256: str = ""


def _record(cls: type, data: Any, where: str) -> Any:
    """A flat record dataclass from its JSON object, every field type-checked."""
    kinds: dict[str, type | tuple[type, ...]] = {"str": str, "int": int, "float": (int, float)}
    values = {f.name: _get(data, f.name, kinds[str(f.type)], where, ... if f.default is MISSING else f.default)
              for f in fields(cls)}
    return cls(**values)


@dataclass(frozen=True)
class Manifest:
    """``manifest.json``: what a generation holds and how it was made.

    Indexing fills in what it decided (model, chunker, files, export); the store adds what it
    wrote (format version, generation name, FAISS type, data file checksums) at commit.
    """

    model: ModelRecord
    chunker: dict[str, Any]
    corpus: str
    files: dict[str, FileRecord]
    # The corpus relative to the index folder: preferred when it leads to a folder, so a
    # project moved whole keeps its corpus. Empty in indexes written before it was recorded.
    corpus_relative: str = ""
    skipped: tuple[tuple[str, str], ...] = ()
    onnx: ExportRecord | None = None
    format_version: int = 0
    qa_version: str = ""
    created: str = ""
    generation: str = ""
    counts: dict[str, int] = field(default_factory=dict)
    faiss: dict[str, str] = field(default_factory=dict)
    data_files: dict[str, Checksum] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["skipped"] = [list(s) for s in self.skipped]
        return data

    @classmethod
    def from_json(cls, data: Any) -> Manifest:
        where = "manifest"
        skipped = []
        for item in _get(data, "skipped", list, where):
            if not (isinstance(item, list) and len(item) == 2 and all(isinstance(s, str) for s in item)):
                raise IndexCorruptError.because(f"{where}: a skipped entry is not [path, reason]")
            skipped.append((item[0], item[1]))
        onnx = _get(data, "onnx", (dict, type(None)), where, None)
        counts = _get(data, "counts", dict, where, {})
        faiss = _get(data, "faiss", dict, where, {})
        if not all(isinstance(v, int) for v in counts.values()):
            raise IndexCorruptError.because(f"{where}: a count is not a whole number")
        if not all(isinstance(v, str) for v in faiss.values()):
            raise IndexCorruptError.because(f"{where}: a FAISS field is not text")
        return cls(
            model=_record(ModelRecord, _get(data, "model", dict, where), "manifest model"),
            chunker=_get(data, "chunker", dict, where),
            corpus=_get(data, "corpus", str, where),
            corpus_relative=_get(data, "corpus_relative", str, where, ""),
            files={path: _record(FileRecord, record, f"manifest file {path!r}")
                   for path, record in _get(data, "files", dict, where).items()},
            skipped=tuple(skipped),
            onnx=None if onnx is None else _record(ExportRecord, onnx, "manifest onnx"),
            format_version=_get(data, "format_version", int, where),
            qa_version=_get(data, "qa_version", str, where, ""),
            created=_get(data, "created", str, where, ""),
            generation=_get(data, "generation", str, where, ""),
            counts=dict(counts),
            faiss=dict(faiss),
            data_files={name: _record(Checksum, record, f"manifest data file {name!r}")
                        for name, record in _get(data, "data_files", dict, where, {}).items()},
        )
