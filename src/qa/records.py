"""The index directory's records of itself: what ``manifest.json`` and ``chunks.jsonl`` hold.
Read back through ``from_json``, which checks every field's type, so a damaged or hand-edited
file is an IndexCorruptError naming the field, never a KeyError or a wrong answer downstream."""

from __future__ import annotations

from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import Any

from qa.errors import IndexCorruptError
from qa.types import Chunk


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
