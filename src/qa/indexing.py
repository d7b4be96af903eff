"""Corpus folder -> committed index generation, re-embedding only what changed.

The steps, in the order ``build_index`` runs them: scan the folder; diff it against the
committed generation; load and chunk the new or changed files; embed the chunks that have no
vector yet; write and commit the new generation. Unchanged files (same sha256) keep their
chunks and vectors; an edited file is re-chunked and each chunk whose text is unchanged keeps
its vector; deleted files drop out. A run on an unchanged corpus embeds nothing and writes
nothing.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from qa import disk, loading, store
from qa.chunking import ChunkerSettings, chunk_document
from qa.embedding import Encoder, ModelSpec, ModelTokenizer, model_spec
from qa.encoder_policy import MODELS_DIR, IndexEncoders, committed_export
from qa.errors import CorpusError, IndexCorruptError, IndexMismatchError, IndexMissingError
from qa.records import ChunkRecord, ExportRecord, FileRecord, Manifest, ModelRecord

if TYPE_CHECKING:
    import numpy as np


class IndexProgress(Protocol):
    def stage(self, name: str, total: int | None = None) -> None: ...
    def advance(self, n: int = 1) -> None: ...


class _Silent:
    def stage(self, name: str, total: int | None = None) -> None:
        pass

    def advance(self, n: int = 1) -> None:
        pass


@dataclass(frozen=True)
class IndexReport:
    """What one ``build_index`` run did."""

    index_dir: Path
    files_indexed: tuple[str, ...]  # new or changed, (re)chunked
    files_reused: tuple[str, ...]  # unchanged: chunks and vectors kept
    files_removed: tuple[str, ...]
    skipped: tuple[tuple[str, str], ...]  # (path, reason)
    warnings: tuple[tuple[str, str], ...]
    chunks: int
    chunks_embedded: int
    chunks_reused: int
    seconds: float
    generation: str
    up_to_date: bool
    notices: tuple[str, ...] = field(default=())
    encoder: str = ""  # what embedded the new chunks: torch, onnx or openvino
    corpus: Path | None = None  # the folder indexed

    def lines(self) -> list[str]:
        """The summary ``qa index`` prints (paths are untrusted: print with safety.printable_line)."""
        out = [f"note: {n}" for n in self.notices] + [f"warning: {p}: {w}" for p, w in self.warnings]
        if self.corpus is not None:
            out.append(f"Corpus {self.corpus} -> index {self.index_dir}")
        where = f"[{self.index_dir}/{self.generation}]"
        if self.up_to_date:
            out.append(f"Index is up to date: {len(self.files_reused)} files, {self.chunks} chunks, "
                       f"nothing embedded ({self.seconds:.1f} s). {where}")
        else:
            out.append(f"Indexed {len(self.files_indexed)} file(s), reused {len(self.files_reused)}, "
                       f"removed {len(self.files_removed)}, skipped {len(self.skipped)}.")
            embedded_with = f" with {self.encoder}" if self.chunks_embedded else ""
            out.append(f"{self.chunks} chunks: {self.chunks_embedded} embedded{embedded_with}, "
                       f"{self.chunks_reused} reused in {self.seconds:.1f} s. {where}")
        return out + [f"skipped: {p}: {reason}" for p, reason in self.skipped]


@dataclass
class _Previous:
    """The committed generation an update starts from (empty when building from scratch)."""

    stored: store.StoredIndex | None = None
    files: dict[str, FileRecord] = field(default_factory=dict)
    rows_by_path: dict[str, list[int]] = field(default_factory=dict)
    row_by_hash: dict[str, int] = field(default_factory=dict)


@dataclass
class _Plan:
    """The new generation's chunks in order, each with the old row whose vector it reuses."""

    chunks: list[ChunkRecord] = field(default_factory=list)
    reuse: list[int | None] = field(default_factory=list)
    files: dict[str, FileRecord] = field(default_factory=dict)
    indexed: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[tuple[str, str]] = field(default_factory=list)

    def add(self, record: ChunkRecord, old_row: int | None) -> None:
        self.chunks.append(record)
        self.reuse.append(old_row)

    @property
    def pending(self) -> list[int]:
        """Positions of the chunks that need embedding."""
        return [i for i, row in enumerate(self.reuse) if row is None]


def _scan(corpus: Path) -> list[loading.SourceFile]:
    sources = loading.scan(corpus)
    if not sources:
        raise CorpusError(
            f"no documents in {corpus} (looked for {', '.join(loading.SUFFIXES)}); nothing was written"
        )
    return sources


def _previous(index_dir: Path, spec_name: str, chunker: ChunkerSettings, rebuild: bool,
              notices: list[str]) -> _Previous:
    """The committed index to update, or an empty one when building from scratch."""
    if rebuild:
        return _Previous()
    try:
        old = store.open_stored(index_dir, spec_name)
    except IndexMissingError:
        return _Previous()
    except (IndexCorruptError, IndexMismatchError) as exc:
        notices.append(f"rebuilding from scratch: {exc}")
        return _Previous()
    if old.manifest.chunker != chunker.to_dict():
        notices.append("chunker settings changed: re-chunking every file")
        return _Previous()
    previous = _Previous(old, old.manifest.files)
    for row, record in enumerate(old.chunks):
        previous.rows_by_path.setdefault(record.chunk.path, []).append(row)
        previous.row_by_hash.setdefault(record.text_hash, row)
    return previous


def _load_and_chunk(sources: list[loading.SourceFile], previous: _Previous, chunker: ChunkerSettings,
                    progress: IndexProgress) -> _Plan:
    """Keep the chunks of unchanged files; read and chunk the others."""
    plan = _Plan()
    tokenizer = ModelTokenizer()
    progress.stage("reading", len(sources))
    for source in sources:
        progress.advance()
        try:
            raw = loading.read_bytes(source)
            plan.warnings.extend((source.path, w) for w in raw.warnings)
            known = previous.files.get(source.path)
            if known and known.sha256 == raw.sha256 and source.path in previous.rows_by_path:
                assert previous.stored is not None
                for row in previous.rows_by_path[source.path]:
                    plan.add(previous.stored.chunks[row], row)
                plan.files[source.path] = known
                plan.reused.append(source.path)
                continue
            document = loading.parse(source, raw)
        except loading.SkipFile as exc:
            plan.skipped.append((source.path, str(exc)))
            continue
        chunks = chunk_document(document, tokenizer.count, chunker)
        if not chunks:
            plan.skipped.append((source.path, "no text to index"))
            continue
        for chunk in chunks:
            h = store.text_hash(chunk.embedding_text())
            plan.add(ChunkRecord(chunk, h), previous.row_by_hash.get(h))
        plan.files[source.path] = FileRecord(raw.sha256, len(raw.data), document.title, len(chunks))
        plan.indexed.append(source.path)
    return plan


def _embed(plan: _Plan, previous: _Previous, encoders: IndexEncoders, dim: int,
           progress: IndexProgress) -> tuple[np.ndarray, Encoder | None]:
    """Vectors for every planned chunk: reused rows copied, the rest embedded."""
    import numpy as np

    vectors = np.zeros((len(plan.chunks), dim), dtype=np.float32)
    if previous.stored is not None:
        old_vectors = previous.stored.vectors()
        for i, old_row in enumerate(plan.reuse):
            if old_row is not None:
                vectors[i] = old_vectors[old_row]
    pending = plan.pending
    if not pending:
        return vectors, None
    active = encoders.for_chunks(progress)
    progress.stage("embedding", len(pending))
    texts = [plan.chunks[i].chunk.embedding_text() for i in pending]
    vectors[pending] = active.encode(texts, progress=progress.advance)
    return vectors, active


def _manifest(spec: ModelSpec, chunker: ChunkerSettings, corpus: Path, index_dir: Path, plan: _Plan,
              export: ExportRecord | None) -> Manifest:
    return Manifest(
        model=ModelRecord(spec.name, spec.dim, spec.max_seq_length, spec.pip_name),
        chunker=chunker.to_dict(),
        corpus=str(corpus.resolve()),
        # Preferred when it leads to a folder: a project moved whole keeps its corpus.
        corpus_relative=os.path.relpath(corpus.resolve(), index_dir.resolve()),
        files=plan.files,
        skipped=tuple(plan.skipped),
        counts={"files": len(plan.files), "skipped": len(plan.skipped)},
        onnx=export,
    )


def build_index(
    corpus: Path,
    index_dir: Path,
    *,
    rebuild: bool = False,
    progress: IndexProgress | None = None,
    encoder: str | Encoder = "auto",
    chunker: ChunkerSettings | None = None,
    export: bool = True,
) -> IndexReport:
    """Index ``corpus`` into ``index_dir`` (see module docstring).

    Args:
        encoder: one of config.INDEX_ENCODERS (see ``encoder_policy``), or an Encoder object.
        export: also export and verify the ONNX model for torch-free queries, if not done yet.

    Raises:
        CorpusError: the folder is missing or has no readable document (nothing is written).
        IndexLockedError: another writer holds the index.
        ConfigError: ``encoder`` names no encoder.
    """
    started = time.perf_counter()
    progress = progress or _Silent()
    chunker = chunker or ChunkerSettings()
    spec = model_spec()
    corpus, index_dir = Path(corpus), Path(index_dir)
    sources = _scan(corpus)
    notices: list[str] = []
    with store.lock(index_dir):
        _remove_dead_exports(index_dir)
        previous = _previous(index_dir, spec.name, chunker, rebuild, notices)
        plan = _load_and_chunk(sources, previous, chunker, progress)
        if not plan.files:
            raise CorpusError(
                f"no readable document in {corpus}: "
                + "; ".join(f"{p}: {r}" for p, r in plan.skipped)
                + ". Nothing was written."
            )
        removed = sorted(set(previous.files) - set(plan.files))
        old_manifest = previous.stored.manifest if previous.stored else None
        encoders = IndexEncoders(index_dir, encoder, committed_export(index_dir, old_manifest, spec.name),
                                 export, notices)

        def report(generation: str, embedded: int, up_to_date: bool, kind: str = "") -> IndexReport:
            return IndexReport(
                index_dir, tuple(plan.indexed), tuple(plan.reused), tuple(removed),
                tuple(plan.skipped), tuple(plan.warnings), len(plan.chunks), embedded,
                len(plan.chunks) - embedded, time.perf_counter() - started, generation, up_to_date,
                tuple(notices), kind, corpus.resolve(),
            )

        if (old_manifest is not None and not plan.indexed and not removed
                and old_manifest.skipped == tuple(plan.skipped)
                # The same files from another folder are another corpus: the manifest must name
                # the folder now indexed (before: "up to date", and the old corpus kept).
                and old_manifest.corpus == str(corpus.resolve())
                and (encoders.export is not None or not encoders.want_export)):
            assert previous.stored is not None
            return report(previous.stored.generation.name, 0, True)
        vectors, active = _embed(plan, previous, encoders, spec.dim, progress)
        manifest = _manifest(spec, chunker, corpus, index_dir, plan, encoders.final_export(progress))
        progress.stage("writing index")
        generation = store.write_generation(index_dir, plan.chunks, vectors, manifest)
    return report(generation.name, len(plan.pending), False, active.kind if active else "")


# export_onnx writes <model>.onnx.tmp-<PID> and renames it; a killed export leaves that behind.
_EXPORT_LEFTOVER = re.compile(r"[\w.-]+\.onnx\.tmp-(\d+)")


def _remove_dead_exports(index_dir: Path) -> None:
    """Remove ONNX exports left by killed writers: only in a folder qa has claimed, only files
    named as export_onnx names them, only when that PID is gone (or is us: we hold the lock,
    so no other export into this folder can be running)."""
    models = index_dir / MODELS_DIR
    if not disk.is_claimed(index_dir) or not models.is_dir() or models.is_symlink():
        return
    for item in models.iterdir():
        match = _EXPORT_LEFTOVER.fullmatch(item.name)
        if match and not item.is_symlink() and item.is_file() and not _alive(int(match.group(1))):
            item.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, owned by someone else
    return True
