"""Every call the cluster package makes into the single-machine modules, in one place.

The sharded path reuses the one-machine pipeline (loading, chunking, embedding, the store's
generation format, the retriever's dense and lexical scoring) instead of copying it. Keeping all
of those touch points here means a refactor of ``store``/``lexical``/``dense``/``encoder_policy``
needs one file ported, not the whole package.
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qa import dense, disk, encoder_policy, lexical, loading, store
from qa.chunking import ChunkerSettings, chunk_document
from qa.embedding import Encoder, ModelTokenizer, TorchEncoder, model_spec
from qa.errors import IndexCorruptError, IndexMismatchError, IndexMissingError
from qa.indexing import IndexReport
from qa.records import (
    ChunkRecord,
    ExportRecord,
    FileRecord,
    Manifest,
    ModelRecord,
)
from qa.retrieval import Retriever
from qa.store import StoredIndex, text_hash

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "ChunkerSettings", "Encoder", "IndexReport", "Retriever", "StoredChunk", "StoredIndex",
    "chunk_document", "committed_manifest", "current_generation_name", "ensure_onnx", "export_intact",
    "index_encoder", "lexical_tokens", "load_file", "lock", "model_spec", "open_shard", "query_encoder",
    "read_file_bytes", "scan", "shard_dense", "shard_lexical_scores", "text_hash", "tokenizer",
    "write_shard",
]

StoredChunk = ChunkRecord
SkipFile = loading.SkipFile
MODELS_DIR = encoder_policy.MODELS_DIR
lock = store.lock
checksum = disk.checksum
lexical_query_tokens = lexical.query_tokens
resolve_in_corpus = store.resolve_in_corpus
safe_relative_path = store.safe_relative_path


def scan(corpus: Path) -> list[loading.SourceFile]:
    """The corpus files in the single index's order (sorted relative paths)."""
    return loading.scan(corpus)


def source_file(corpus: Path, path: str) -> loading.SourceFile:
    """A corpus file by its relative path, refusing one that leaves the corpus."""
    return loading.SourceFile(safe_relative_path(path), resolve_in_corpus(corpus, path))


def read_file_bytes(source: loading.SourceFile) -> loading.FileBytes:
    return loading.read_bytes(source)


def load_file(source: loading.SourceFile, raw: loading.FileBytes) -> Any:
    return loading.parse(source, raw)


@functools.cache
def tokenizer() -> ModelTokenizer:
    return ModelTokenizer(model_spec())


def lexical_tokens(texts: list[str]) -> list[list[str]]:
    """The exact analysis the single index gives its BM25 (stemmed, stop words removed)."""
    return lexical.tokens(texts)


def current_generation_name(shard_dir: Path) -> str | None:
    generation = store.current_generation_safe(shard_dir)
    return generation.name if generation else None


committed_manifest = store.committed_manifest


def file_dicts(manifest: Manifest) -> dict[str, dict[str, Any]]:
    """A manifest's file records as plain dicts (what build tasks send back through Ray)."""
    return {path: dataclasses.asdict(record) for path, record in manifest.files.items()}


def shard_manifest(corpus: str, chunker: dict[str, Any], files: dict[str, dict[str, Any]],
                   skipped: list[tuple[str, str]]) -> Manifest:
    """The manifest of one shard's generation (the ONNX export lives once, in the cluster
    folder's models/, so a shard records none)."""
    spec = model_spec()
    return Manifest(
        model=ModelRecord(spec.name, spec.dim, spec.max_seq_length, spec.pip_name),
        chunker=chunker,
        corpus=corpus,
        files={p: FileRecord(**r) for p, r in files.items()},
        skipped=tuple(skipped),
        counts={"files": len(files), "skipped": len(skipped)},
    )


def typed_manifest(cluster: dict[str, Any]) -> Manifest:
    """The cluster manifest seen as a single index's manifest (what ``api.Index`` reads)."""
    onnx = cluster.get("onnx")
    return Manifest(
        model=ModelRecord(**cluster["model"]),
        chunker=cluster["chunker"],
        corpus=cluster["corpus"],
        files={p: FileRecord(r["sha256"], r["bytes"], r["title"], r["chunks"])
               for p, r in cluster["files"].items()},
        skipped=tuple((str(a), str(b)) for a, b in cluster["skipped"]),
        onnx=ExportRecord(**onnx) if onnx else None,
        counts=dict(cluster["counts"]),
    )


def open_shard(shard_dir: Path, model_name: str, verify: bool = True) -> StoredIndex:
    return store.open_stored(shard_dir, model_name, verify=verify)


def try_open_shard(shard_dir: Path, model_name: str) -> StoredIndex | None:
    try:
        return store.open_stored(shard_dir, model_name)
    except (IndexMissingError, IndexCorruptError, IndexMismatchError):
        return None


def write_shard(shard_dir: Path, chunks: list[ChunkRecord], vectors: np.ndarray,
                manifest: Manifest) -> str:
    """Commit one shard as an ordinary generation (atomic: see ``store.write_generation``)."""
    return store.write_generation(shard_dir, chunks, vectors, manifest).name


def export_intact(index_dir: Path, info: dict[str, Any]) -> bool:
    return encoder_policy.export_intact(index_dir, ExportRecord(**info))


def ensure_onnx(index_dir: Path, notices: list[str]) -> dict[str, Any] | None:
    """Export and verify the ONNX model into ``index_dir/models``; its record as a dict."""
    record = encoder_policy.make_export(index_dir, None, notices)
    return dataclasses.asdict(record) if record else None


@functools.cache
def index_encoder(kind: str, onnx_path: str | None) -> Encoder:
    """The encoder a build task embeds with, made once per worker process (Ray reuses workers,
    so a shard after the first does not pay for loading or verifying the model again)."""
    if kind != "torch" and onnx_path:
        notices: list[str] = []
        return encoder_policy._export_encoder("onnx" if kind == "onnx" else "openvino", Path(onnx_path), notices)
    return TorchEncoder(model_spec())


def query_encoder(view: Any, choice: str | Encoder, notices: list[str]) -> Encoder:
    """The query encoder of a sharded index (``view``: root and typed manifest)."""
    return encoder_policy.query_encoder(view.root, view.manifest, choice, notices)


def shard_dense(stored: StoredIndex, vector: np.ndarray, depth: int) -> dict[int, float]:
    """FAISS top ``depth`` of one shard, scored exactly as the single index scores them."""
    return dense.search(stored.faiss_index, vector, depth)


def shard_lexical_scores(stored: StoredIndex, query: str) -> np.ndarray | None:
    """BM25 score of every chunk of the shard (None: no query term in its vocabulary)."""
    return stored.lexical().scores(query)


def set_lexical(stored: StoredIndex, bm25: Any) -> None:
    """Serve ``bm25`` (built with the cluster-wide statistics) instead of the shard's own."""
    stored._lexical = lexical.LexicalIndex(bm25)


def manifest_identity(manifest_path: Path) -> Any:
    """``audit.manifest_identity``: a sharded index's identity is its cluster manifest file
    (which names every shard generation)."""
    from qa import audit

    return audit.manifest_identity(manifest_path)
