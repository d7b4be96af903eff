"""Every call the cluster package makes into the single-machine modules, in one place.

The sharded path reuses the one-machine pipeline (loading, chunking, embedding, the store's
generation format, the retriever's dense and lexical scoring) instead of copying it. Keeping all
of those touch points here means a refactor of ``store``/``indexing``/``retrieval`` needs one
file ported, not the whole package.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qa import loading, store
from qa.chunking import ChunkerSettings, chunk_document
from qa.embedding import Encoder, ModelTokenizer, TorchEncoder, model_spec
from qa.errors import IndexCorruptError, IndexMismatchError, IndexMissingError, QAError
from qa.indexing import IndexReport, _export_encoder, ensure_onnx
from qa.retrieval import Retriever, query_encoder
from qa.store import StoredChunk, StoredIndex, text_hash

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "ChunkerSettings", "Encoder", "IndexReport", "Retriever", "StoredChunk", "StoredIndex",
    "chunk_document", "committed_manifest", "current_generation_name", "ensure_onnx", "export_intact",
    "index_encoder", "lexical_tokens", "load_file", "lock", "model_spec", "open_shard", "query_encoder",
    "read_file_bytes", "scan", "shard_dense", "shard_lexical_scores", "text_hash", "tokenizer",
    "write_shard",
]

SkipFile = loading.SkipFile
MODELS_DIR = store.MODELS_DIR
lock = store.lock
export_intact = store.export_intact
checksum = store.checksum
lexical_query_tokens = store.lexical_query_tokens
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
    return store._lexical_tokens(texts)


def current_generation_name(shard_dir: Path) -> str | None:
    generation = store.current_generation_safe(shard_dir)
    return generation.name if generation else None


def committed_manifest(shard_dir: Path, model_name: str) -> dict[str, Any] | None:
    """The manifest of a shard's committed generation, or None when there is none usable."""
    try:
        generation = store.current_generation(shard_dir)
        if generation is None:
            return None
        manifest = store.read_manifest(generation)
        store.check_compatible(manifest, model_name)
    except QAError:
        return None
    return manifest


def open_shard(shard_dir: Path, model_name: str, verify: bool = True) -> StoredIndex:
    return store.open_stored(shard_dir, model_name, verify=verify)


def try_open_shard(shard_dir: Path, model_name: str) -> StoredIndex | None:
    try:
        return store.open_stored(shard_dir, model_name)
    except (IndexMissingError, IndexCorruptError, IndexMismatchError):
        return None


def write_shard(shard_dir: Path, chunks: list[StoredChunk], vectors: np.ndarray,
                manifest: dict[str, Any]) -> str:
    """Commit one shard as an ordinary generation (atomic: see ``store.write_generation``)."""
    return store.write_generation(shard_dir, chunks, vectors, manifest).name


@functools.cache
def index_encoder(kind: str, onnx_path: str | None) -> Encoder:
    """The encoder a build task embeds with, made once per worker process (Ray reuses workers,
    so a shard after the first does not pay for loading or verifying the model again)."""
    if kind != "torch" and onnx_path:
        notices: list[str] = []
        return _export_encoder("onnx" if kind == "onnx" else "openvino", Path(onnx_path), notices)
    return TorchEncoder(model_spec())


def shard_dense(stored: StoredIndex, vector: np.ndarray, depth: int) -> dict[int, float]:
    """FAISS top ``depth`` of one shard, scored exactly as the single index scores them."""
    return Retriever(stored, encoder=None)._dense(vector, depth)  # type: ignore[arg-type]


def shard_lexical_scores(stored: StoredIndex, query: str) -> np.ndarray | None:
    """BM25 score of every chunk of the shard (None: no query term in its vocabulary)."""
    return Retriever(stored, encoder=None)._lexical_all(query)  # type: ignore[arg-type]


def set_lexical(stored: StoredIndex, bm25: Any) -> None:
    """Serve ``bm25`` (built with the cluster-wide statistics) instead of the shard's own."""
    stored._lexical = bm25
