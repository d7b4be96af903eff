"""qa: local, offline, citation-first question answering over a folder of documents.

    >>> import qa
    >>> qa.build_index("corpus", "embeddings")
    >>> index = qa.open_index("embeddings")
    >>> index.search("When was the Pyongyang Declaration signed?", k=3)
    >>> answer = qa.ask("When was the Pyongyang Declaration signed?", index=index)
    >>> answer.text, answer.grounded, answer.citations

Everything an interface (the CLI, the TUI, the benchmarks) needs is importable from here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from qa._version import __version__

if TYPE_CHECKING:
    from qa.api import (
        Index,
        answer_model,
        build_index,
        check_question,
        inference_model,
        load_encoder,
        verify_answer,
    )
    from qa.audit import read_answer
    from qa.cluster.index import (
        ClusterIndex,
        open_cluster,
        open_or_build_cluster,
        serve_index,
        stop_serving,
    )
    from qa.config import ENCODERS as QUERY_ENCODERS
    from qa.config import INDEX_ENCODERS, MODES, Settings, resolve_settings
    from qa.conversation import Conversation
    from qa.embedding import Encoder, model_spec
    from qa.errors import (
        ConfigError,
        CorpusError,
        IndexCorruptError,
        IndexLockedError,
        IndexMismatchError,
        IndexMissingError,
        ModelNotInstalledError,
        QAError,
        QuestionError,
        UnsafePathError,
    )
    from qa.evaluation import (
        BeirReport,
        QuestionReport,
        QuestionResult,
        eval_cache_dir,
        evaluate_beir,
        evaluate_questions,
        materialize_beir_corpus,
        mean_metrics,
        ranking_metrics,
        read_beir,
        read_questions,
    )
    from qa.indexing import IndexProgress, IndexReport
    from qa.loading import SUFFIXES as DOCUMENT_SUFFIXES
    from qa.opening import ask, open_index, open_or_build
    from qa.records import Manifest
    from qa.types import Answer, AnswerSpan, Chunk, Citation, Document, Hit
    from qa.watching import Watcher, WatchEvent

_LAZY = {
    "qa.audit": ("read_answer",),
    "qa.conversation": ("Conversation",),
    "qa.api": ("Index", "answer_model", "inference_model", "verify_answer", "build_index", "check_question", "load_encoder"),
    # Either kind of index folder, single or sharded (see qa.opening for why this is its own module).
    "qa.opening": ("ask", "open_index", "open_or_build"),
    "qa.cluster.index": ("ClusterIndex", "open_cluster", "open_or_build_cluster", "serve_index", "stop_serving"),
    "qa.config": ("INDEX_ENCODERS", "MODES", "QUERY_ENCODERS", "Settings", "resolve_settings"),
    "qa.embedding": ("Encoder", "model_spec"),
    "qa.errors": ("ConfigError", "CorpusError", "IndexCorruptError", "IndexLockedError",
                  "IndexMismatchError", "IndexMissingError", "ModelNotInstalledError", "QAError",
                  "QuestionError", "UnsafePathError"),
    "qa.evaluation": ("BeirReport", "QuestionReport", "QuestionResult", "eval_cache_dir",
                      "evaluate_beir", "evaluate_questions", "materialize_beir_corpus",
                      "mean_metrics", "ranking_metrics", "read_beir", "read_questions"),
    "qa.indexing": ("IndexProgress", "IndexReport"),
    "qa.loading": ("DOCUMENT_SUFFIXES",),  # the file types a corpus folder is read for
    "qa.types": ("Answer", "AnswerSpan", "Chunk", "Citation", "Document", "Hit"),
    "qa.records": ("Manifest",),
    "qa.watching": ("WatchEvent", "Watcher"),
}
_HOME = {name: module for module, names in _LAZY.items() for name in names}
_RENAMED = {"QUERY_ENCODERS": "ENCODERS", "DOCUMENT_SUFFIXES": "SUFFIXES"}

__all__ = [
    "Answer", "AnswerSpan", "BeirReport", "Chunk", "ClusterIndex", "Citation", "ConfigError", "Conversation", "CorpusError",
    "DOCUMENT_SUFFIXES", "Document", "Encoder", "Hit", "INDEX_ENCODERS", "Index", "IndexCorruptError",
    "IndexLockedError", "IndexMismatchError", "IndexMissingError", "IndexProgress", "IndexReport",
    "MODES", "Manifest", "ModelNotInstalledError", "QAError", "QUERY_ENCODERS", "QuestionError",
    "QuestionReport", "QuestionResult", "Settings", "UnsafePathError", "__version__", "answer_model", "inference_model", "ask", "read_answer", "verify_answer",
    "build_index", "check_question", "eval_cache_dir", "evaluate_beir", "evaluate_questions",
    "load_encoder", "materialize_beir_corpus", "mean_metrics", "model_spec", "open_cluster", "open_index", "open_or_build", "open_or_build_cluster",
    "ranking_metrics", "read_beir", "read_questions", "resolve_settings", "serve_index", "stop_serving",
    "WatchEvent", "Watcher",
]


def __getattr__(name: str) -> Any:
    # Lazy: `import qa` (and `qa --help`) must not pay for numpy, FAISS or the model.
    if name in _HOME:
        import importlib

        return getattr(importlib.import_module(_HOME[name]), _RENAMED.get(name, name))
    raise AttributeError(f"module 'qa' has no attribute {name!r}")
