"""Auditable answers: the fingerprint of what an answer was computed from, and ``verify``, which
re-checks a saved JSON answer against the files as they are now.

The manifest is read here from the generation's own ``manifest.json`` bytes (not from the parsed
index) because its sha256 is part of the fingerprint: hashing the bytes on disk is what a later
auditor can redo.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from qa import loading, store
from qa._version import __version__
from qa.errors import QAError
from qa.layout import layout_of, shown
from qa.types import Answer, Fingerprint


@dataclass(frozen=True)
class IndexIdentity:
    """The parts of a fingerprint that depend only on the index generation."""

    corpus: str
    encoder: str
    encoder_sha256: str | None
    generation: str
    manifest_sha256: str
    file_sha256: dict[str, str]


@lru_cache(maxsize=8)
def _identity(manifest_path: Path, mtime_ns: int, size: int) -> IndexIdentity:
    # Keyed on mtime and size too: a generation is immutable, but a path can be reused after a prune.
    raw = manifest_path.read_bytes()
    try:
        manifest = json.loads(raw)
        onnx = manifest.get("onnx") or {}
        return IndexIdentity(
            corpus=str(manifest["corpus"]),
            encoder=str(manifest["model"]["name"]),
            encoder_sha256=onnx.get("sha256"),
            generation=str(manifest.get("generation") or manifest_path.parent.name),
            manifest_sha256=hashlib.sha256(raw).hexdigest(),
            file_sha256={p: str(r["sha256"]) for p, r in manifest.get("files", {}).items()},
        )
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise QAError(f"index corrupt: {manifest_path} is unreadable ({exc}); {store.REBUILD_HINT}") from exc


def manifest_identity(manifest_path: Path) -> IndexIdentity:
    """Identity of the index a manifest file describes (a generation's, or a sharded index's)."""
    stat = manifest_path.stat()
    return _identity(manifest_path, stat.st_mtime_ns, stat.st_size)


def index_identity(generation: Path) -> IndexIdentity:
    """Identity of the committed generation directory ``generation``."""
    return manifest_identity(generation / store.MANIFEST)


def fingerprint(answer: Answer, identity: IndexIdentity, answer_model_sha256: str,
                nli_model_sha256: str | None = None) -> Fingerprint:
    """The fingerprint of ``answer``, computed on the index generation ``identity`` describes."""
    cited = {c.path for c in answer.citations}
    if answer.answer_span is not None:
        cited.add(answer.answer_span.path)
    return Fingerprint(
        qa_version=__version__, corpus=identity.corpus, encoder=identity.encoder,
        encoder_sha256=identity.encoder_sha256, answer_model_sha256=answer_model_sha256,
        nli_model_sha256=nli_model_sha256,
        generation=identity.generation, manifest_sha256=identity.manifest_sha256,
        files=tuple((p, identity.file_sha256.get(p, "")) for p in sorted(cited)),
    )


# ---------------------------------------------------------------------------------------------
# qa verify

@dataclass(frozen=True)
class QuoteCheck:
    """One quote of a saved answer (a citation or the answer span) against the file today."""

    label: str  # "[2]" or "answer span"
    path: str
    start_char: int
    end_char: int
    current: bool
    reason: str  # why it is stale; "" when current


@dataclass(frozen=True)
class FileCheck:
    """A cited file's sha256 in the fingerprint against its bytes today."""

    path: str
    recorded: str | None
    actual: str | None  # None: the file is gone or unreadable

    @property
    def changed(self) -> bool:
        return self.recorded is not None and self.recorded != self.actual


@dataclass(frozen=True)
class Verification:
    corpus: Path
    quotes: tuple[QuoteCheck, ...]
    files: tuple[FileCheck, ...]
    notes: tuple[str, ...]  # e.g. the index was rebuilt since the answer

    def lines(self) -> list[str]:
        """The report ``qa verify`` prints (untrusted text: print it with safety.printable)."""
        out = [f"Corpus: {self.corpus}"] + [f"note: {note}" for note in self.notes]
        for f in self.files:
            if f.actual is None:
                out.append(f"file {f.path}: missing or unreadable")
            elif f.changed:
                out.append(f"file {f.path}: changed since the answer (sha256 "
                           f"{f.recorded[:12] if f.recorded else '?'}… now {f.actual[:12]}…)")
        for q in self.quotes:
            out.append(f"{q.label} {q.path} chars {q.start_char}-{q.end_char}: "
                       + ("current" if q.current else f"STALE: {q.reason}"))
        return out

    @property
    def stale(self) -> list[QuoteCheck]:
        return [q for q in self.quotes if not q.current]

    @property
    def ok(self) -> bool:
        return not self.stale


def read_answer(path: Path) -> dict[str, Any]:
    """A JSON answer as saved from ``qa ask --json`` (QAError when it is not one)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise QAError(f"cannot read {path} as a JSON answer ({exc})") from exc
    if not isinstance(data, dict) or not isinstance(data.get("citations"), list):
        raise QAError(f"{path} is not a qa answer: it has no \"citations\" list (save one with `qa ask --json`)")
    return data


def _quotes(data: dict[str, Any]) -> list[tuple[str, dict[str, Any], Any]]:
    """(label, record, the text expected at its offsets) for every citation and the answer span."""
    out = [(f"[{c.get('n')}]", c, c.get("quote")) for c in data["citations"] if isinstance(c, dict)]
    span = data.get("answer_span")
    if isinstance(span, dict):
        out.append(("answer span", span, span.get("text")))
    return out


def verify(data: dict[str, Any], corpus: Path, identity: IndexIdentity | None = None) -> Verification:
    """Check that every quote of the answer ``data`` is still at its offsets in the files of
    ``corpus`` (decoded as qa decodes them, so .html and .pdf offsets are into their text), and
    that every cited file still has the sha256 the fingerprint recorded."""
    recorded = (data.get("fingerprint") or {}).get("files") or {}
    documents: dict[str, tuple[str | None, str | None]] = {}  # path -> (text, sha256)
    layouts: dict[str, str] = {}
    problems: dict[str, str] = {}

    def document(path: str) -> tuple[str | None, str | None]:
        if path not in documents:
            try:
                source = loading.SourceFile(store.safe_relative_path(path), store.resolve_in_corpus(corpus, path))
                if not source.abspath.is_file():
                    raise loading.SkipFile("the file is gone")
                doc, _ = loading.load(source)
                documents[path] = (doc.text, doc.sha256)
                layouts[path] = layout_of(doc.path, bool(doc.page_starts))
            except (loading.SkipFile, QAError) as exc:
                problems[path] = str(exc)
                documents[path] = (None, None)
        return documents[path]

    quotes = []
    for label, record, expected in _quotes(data):
        path = str(record.get("path", ""))
        start, end = record.get("start_char"), record.get("end_char")
        text, _ = document(path)
        if not isinstance(start, int) or not isinstance(end, int) or not isinstance(expected, str):
            quotes.append(QuoteCheck(label, path, -1, -1, False, "the saved answer has no offsets or quote here"))
        elif text is None:
            quotes.append(QuoteCheck(label, path, start, end, False, f"cannot read the file: {problems[path]}"))
        elif text[start:end] != expected:
            moved = text.find(expected)
            where = f"; the quote is now at chars {moved}-{moved + len(expected)}" if moved >= 0 else "; the quote is no longer in the file"
            quotes.append(QuoteCheck(label, path, start, end, False, f"chars {start}-{end} no longer hold the quote{where}"))
        elif isinstance(record.get("quote"), str) and "text" in record and record["text"] != shown(expected, layouts[path]):
            # the reader-visible text must be what qa shows of the quote today
            quotes.append(QuoteCheck(label, path, start, end, False, "the quote is there, but its shown text is not what qa shows of it"))
        else:
            quotes.append(QuoteCheck(label, path, start, end, True, ""))
    paths = sorted({q.path for q in quotes} | set(recorded))
    files = tuple(FileCheck(p, recorded.get(p), document(p)[1]) for p in paths)
    notes = []
    index = (data.get("fingerprint") or {}).get("index") or {}
    if identity is not None and index and index.get("manifest_sha256") != identity.manifest_sha256:
        notes.append(f"the index has changed since this answer (answer: {index.get('generation')}, "
                     f"now: {identity.generation}); asking again may give a different answer")
    return Verification(corpus, tuple(quotes), files, tuple(notes))
