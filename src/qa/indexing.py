"""Corpus folder -> committed index generation, re-embedding only what changed.

Unchanged files (same sha256) keep their chunks and vectors; an edited file is re-chunked and
each chunk whose text is unchanged keeps its vector; deleted files drop out. A run on an
unchanged corpus embeds nothing and writes nothing.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from qa import loading, store
from qa.chunking import ChunkerSettings, chunk_document
from qa.embedding import (
    MIN_PROBE_COSINE,
    Encoder,
    ModelTokenizer,
    OnnxEncoder,
    OpenVinoEncoder,
    TorchEncoder,
    export_onnx,
    model_spec,
    probe_cosines,
)
from qa.errors import CorpusError, IndexCorruptError, IndexMismatchError, IndexMissingError, QAError


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


def _fresh_start(index_dir: Path, spec_name: str, chunker: ChunkerSettings, rebuild: bool,
                 notices: list[str]) -> store.StoredIndex | None:
    """The committed index to update, or None when building from scratch."""
    if rebuild:
        return None
    try:
        old = store.open_stored(index_dir, spec_name)
    except IndexMissingError:
        return None
    except (IndexCorruptError, IndexMismatchError) as exc:
        notices.append(f"rebuilding from scratch: {exc}")
        return None
    if old.manifest.get("chunker") != chunker.to_dict():
        notices.append("chunker settings changed: re-chunking every file")
        return None
    return old


def build_index(
    corpus: Path,
    index_dir: Path,
    *,
    rebuild: bool = False,
    progress: IndexProgress | None = None,
    encoder: str = "auto",
    chunker: ChunkerSettings | None = None,
    export: bool = True,
) -> IndexReport:
    """Index ``corpus`` into ``index_dir`` (see module docstring).

    Args:
        encoder: one of config.INDEX_ENCODERS: "torch" (sentence-transformers), or the verified ONNX
            export run by "onnx" (onnxruntime) or "openvino"; "auto" picks OpenVINO if installed.
        export: also export and verify the ONNX model for torch-free queries, if not done yet.

    Raises:
        CorpusError: the folder is missing or has no readable document (nothing is written).
        IndexLockedError: another writer holds the index.
    """
    started = time.perf_counter()
    progress = progress or _Silent()
    chunker = chunker or ChunkerSettings()
    spec = model_spec()
    corpus = Path(corpus)
    index_dir = Path(index_dir)
    sources = loading.scan(corpus)
    if not sources:
        raise CorpusError(
            f"no documents in {corpus} (looked for {', '.join(loading.SUFFIXES)}); nothing was written"
        )
    tokenizer = ModelTokenizer(spec)
    notices: list[str] = []
    with store.lock(index_dir):
        _remove_dead_exports(index_dir)
        old = _fresh_start(index_dir, spec.name, chunker, rebuild, notices)
        old_files: dict[str, Any] = old.manifest.get("files", {}) if old else {}
        old_rows: dict[str, list[int]] = {}
        by_hash: dict[str, int] = {}
        if old:
            for row, stored in enumerate(old.chunks):
                old_rows.setdefault(stored.chunk.path, []).append(row)
                by_hash.setdefault(stored.text_hash, row)

        # Each entry: (stored chunk, old row to reuse or None).
        plan: list[tuple[store.StoredChunk, int | None]] = []
        files: dict[str, Any] = {}
        indexed: list[str] = []
        reused: list[str] = []
        skipped: list[tuple[str, str]] = []
        warnings: list[tuple[str, str]] = []
        progress.stage("reading", len(sources))
        for source in sources:
            progress.advance()
            try:
                raw = loading.read_bytes(source)
                warnings.extend((source.path, w) for w in raw.warnings)
                previous = old_files.get(source.path)
                if previous and previous["sha256"] == raw.sha256 and source.path in old_rows:
                    assert old is not None
                    plan.extend((old.chunks[row], row) for row in old_rows[source.path])
                    files[source.path] = previous
                    reused.append(source.path)
                    continue
                document = loading.parse(source, raw)
            except loading.SkipFile as exc:
                skipped.append((source.path, str(exc)))
                continue
            chunks = chunk_document(document, tokenizer.count, chunker)
            if not chunks:
                skipped.append((source.path, "no text to index"))
                continue
            for chunk in chunks:
                h = store.text_hash(chunk.embedding_text())
                plan.append((store.StoredChunk(chunk, h), by_hash.get(h)))
            files[source.path] = {"sha256": raw.sha256, "bytes": len(raw.data), "title": document.title,
                                  "chunks": len(chunks)}
            indexed.append(source.path)

        if not files:
            raise CorpusError(
                f"no readable document in {corpus}: "
                + "; ".join(f"{p}: {r}" for p, r in skipped)
                + ". Nothing was written."
            )
        removed = sorted(set(old_files) - set(files))
        onnx_info = _onnx_info(index_dir, old, spec.name)
        unchanged = (
            old is not None
            and not indexed
            and not removed
            and old.manifest.get("skipped") == [list(s) for s in skipped]
            and (onnx_info is not None or not export)
        )
        if unchanged:
            assert old is not None
            return IndexReport(index_dir, (), tuple(reused), (), tuple(skipped), tuple(warnings),
                               len(plan), 0, len(plan), time.perf_counter() - started,
                               old.generation.name, True, tuple(notices))

        import numpy as np

        old_vectors = old.vectors() if old else None
        pending = [i for i, (_, old_row) in enumerate(plan) if old_row is None]
        vectors = np.zeros((len(plan), spec.dim), dtype=np.float32)
        for i, (_, old_row) in enumerate(plan):
            if old_row is not None and old_vectors is not None:
                vectors[i] = old_vectors[old_row]
        if encoder == "auto":
            # Without an export (and none wanted), torch is the only encoder that needs no extra step.
            fast = importlib.util.find_spec("openvino") and (export or onnx_info)
            encoder = "openvino" if fast else "torch"
        torch_encoder: TorchEncoder | None = None
        if pending and encoder != "torch" and onnx_info is None:
            # The faster encoders run the verified export; making it needs torch once.
            progress.stage("exporting ONNX model")
            torch_encoder = TorchEncoder(spec)
            onnx_info = ensure_onnx(index_dir, torch_encoder, notices)
        active: Encoder | None = None
        if pending:
            if encoder != "torch" and onnx_info:
                active = _export_encoder(encoder, index_dir / store.MODELS_DIR / onnx_info["file"], notices)
            if active is None:
                progress.stage("loading model")
                torch_encoder = torch_encoder or TorchEncoder(spec)
                active = torch_encoder
            progress.stage("embedding", len(pending))
            texts = [plan[i][0].chunk.embedding_text() for i in pending]
            vectors[pending] = active.encode(texts, progress=progress.advance)
        if export and onnx_info is None:
            progress.stage("exporting ONNX model for fast queries")
            onnx_info = ensure_onnx(index_dir, torch_encoder, notices)

        manifest = {
            "model": {"name": spec.name, "dim": spec.dim, "max_seq_length": spec.max_seq_length,
                      "package": spec.pip_name},
            "chunker": chunker.to_dict(),
            "corpus": str(corpus.resolve()),
            # Preferred when it leads to a folder: a project moved whole keeps its corpus.
            "corpus_relative": os.path.relpath(corpus.resolve(), index_dir.resolve()),
            "files": files,
            "skipped": [list(s) for s in skipped],
            "counts": {"files": len(files), "skipped": len(skipped)},
            "onnx": onnx_info,
        }
        progress.stage("writing index")
        generation = store.write_generation(index_dir, [p for p, _ in plan], vectors, manifest)
    return IndexReport(
        index_dir, tuple(indexed), tuple(reused), tuple(removed), tuple(skipped), tuple(warnings),
        len(plan), len(pending), len(plan) - len(pending), time.perf_counter() - started,
        generation.name, False, tuple(notices), active.kind if active else "",
    )


# export_onnx writes <model>.onnx.tmp-<PID> and renames it; a killed export leaves that behind.
_EXPORT_LEFTOVER = re.compile(r"[\w.-]+\.onnx\.tmp-(\d+)")


def _remove_dead_exports(index_dir: Path) -> None:
    """Remove ONNX exports left by killed writers: only in a folder qa has claimed, only files
    named as export_onnx names them, only when that PID is gone (or is us: we hold the lock,
    so no other export into this folder can be running)."""
    models = index_dir / store.MODELS_DIR
    if not store.is_claimed(index_dir) or not models.is_dir() or models.is_symlink():
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


def _export_encoder(kind: str, onnx_path: Path, notices: list[str]) -> Encoder:
    """The verified export run by onnxruntime or OpenVINO. OpenVINO compiles the graph itself, so
    it must reproduce onnxruntime's vectors on the probe set too; if it cannot, onnxruntime
    embeds instead (with a notice)."""
    reference = OnnxEncoder(onnx_path)
    if kind == "onnx":
        return reference
    try:
        candidate = OpenVinoEncoder(onnx_path)
        worst = min(probe_cosines(candidate, reference))
    except Exception as exc:  # OpenVINO only buys speed: any failure falls back
        notices.append(f"OpenVINO unavailable ({type(exc).__name__}: {exc}); embedding with onnxruntime")
        return reference
    if worst < MIN_PROBE_COSINE:
        notices.append(f"OpenVINO rejected (probe cosine {worst:.6f} < {MIN_PROBE_COSINE}); embedding with onnxruntime")
        return reference
    return candidate


def _onnx_info(index_dir: Path, old: store.StoredIndex | None, model_name: str) -> dict[str, Any] | None:
    """The committed generation's ONNX record, if its file is still there and intact. Read even
    when rebuilding: re-embedding every chunk does not call for a new export."""
    if old is not None:
        manifest = old.manifest
    else:
        try:
            generation = store.current_generation(index_dir)
            manifest = store.read_manifest(generation) if generation else {}
            store.check_compatible(manifest, model_name)
        except QAError:  # corrupt or another model: export afresh
            return None
    info = manifest.get("onnx")
    return dict(info) if info and store.export_intact(index_dir, info) else None


def ensure_onnx(index_dir: Path, reference: TorchEncoder | None, notices: list[str]) -> dict[str, Any] | None:
    """Export the model to ONNX and verify it against sentence-transformers on the probe set.

    Returns the manifest record, or None (with a notice) when export or verification fails, in
    which case queries use sentence-transformers.
    """
    spec = model_spec()
    name = spec.name.rsplit("/", 1)[-1] + ".onnx"
    target = index_dir / store.MODELS_DIR / name
    try:
        export_onnx(target, spec)
        reference = reference or TorchEncoder(spec)
        cosines = probe_cosines(OnnxEncoder(target, spec), reference)
    except Exception as exc:  # any failure here only costs speed, never correctness
        notices.append(f"ONNX export failed ({type(exc).__name__}: {exc}); queries will use sentence-transformers")
        shutil.rmtree(target, ignore_errors=True) if target.is_dir() else target.unlink(missing_ok=True)
        return None
    worst = min(cosines)
    if worst < MIN_PROBE_COSINE:
        notices.append(f"ONNX export rejected (probe cosine {worst:.6f} < {MIN_PROBE_COSINE}); queries will use sentence-transformers")
        target.unlink(missing_ok=True)
        return None
    return {"file": name, "sha256": store.checksum(target)["sha256"], "min_probe_cosine": round(worst, 7),
            "probes": len(cosines)}

