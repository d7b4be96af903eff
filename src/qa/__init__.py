"""qa: local, offline, citation-first question answering over a folder of documents.

    >>> import qa
    >>> qa.build_index("corpus", "embeddings")
    >>> index = qa.open_index("embeddings")
    >>> index.search("When was the Pyongyang Declaration signed?", k=3)
    >>> answer = qa.ask("When was the Pyongyang Declaration signed?", index=index)
    >>> answer.text, answer.grounded, answer.citations
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "Answer", "AnswerSpan", "Chunk", "Citation", "Conversation", "Document", "Hit", "Index", "QAError",
    "answer_model", "ask", "build_index", "open_index", "__version__",
]

if TYPE_CHECKING:
    from qa.api import Conversation, Index, answer_model, ask, build_index, open_index
    from qa.errors import QAError
    from qa.types import Answer, AnswerSpan, Chunk, Citation, Document, Hit

_LAZY = {
    "Conversation": "qa.api", "Index": "qa.api", "ask": "qa.api", "build_index": "qa.api",
    "open_index": "qa.api", "QAError": "qa.errors", "Answer": "qa.types", "Chunk": "qa.types",
    "Citation": "qa.types", "Document": "qa.types", "Hit": "qa.types", "AnswerSpan": "qa.types",
    "answer_model": "qa.api",
}


def __getattr__(name: str) -> Any:
    # Lazy: `import qa` (and `qa --help`) must not pay for numpy, FAISS or the model.
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'qa' has no attribute {name!r}")
