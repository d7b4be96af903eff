"""Where qa keeps what it makes for a corpus: the index folder and the shared ONNX export.

The rule for the index (when no ``--index-dir``, ``QA_INDEX_DIR`` or config ``index_dir`` is
given):

* the corpus is ``./corpus`` (the shipped layout: ``qa chat`` in the repo): ``./embeddings``;
* any other corpus: its own folder in the user cache, keyed by the corpus's absolute resolved
  path, ``$XDG_CACHE_HOME/qa/indexes/<name>-<sha256(path)[:16]>/`` (default ``~/.cache``).

So two corpora never share an index by accident, and qa writes nothing next to a user's
documents. The ONNX export of the embedding model is made once per model and kept in
``$XDG_CACHE_HOME/qa/onnx/<sha256 of the model's weights>/`` (see ``encoder_policy``).
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

DEFAULT_CORPUS = Path("corpus")
DEFAULT_INDEX = Path("embeddings")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def cache_root() -> Path:
    """``$XDG_CACHE_HOME/qa`` (an absolute XDG_CACHE_HOME only, as the spec says), else
    ``~/.cache/qa``."""
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".cache"
    return base / "qa"


def is_default_corpus(corpus: Path) -> bool:
    """Whether ``corpus`` is ``./corpus`` of the current directory (the repo's own layout)."""
    try:
        return Path(corpus).resolve() == (Path.cwd() / DEFAULT_CORPUS).resolve()
    except OSError:
        return False


def corpus_key(corpus: Path) -> str:
    """``<name>-<sha256(absolute resolved path)[:16]>``: readable, and unique per folder. The
    name is cut to safe characters (it is a file name; the hash carries the identity)."""
    resolved = Path(corpus).resolve()
    name = _UNSAFE.sub("_", resolved.name)[:40].strip("._") or "corpus"
    digest = hashlib.sha256(os.fsencode(resolved)).hexdigest()[:16]
    return f"{name}-{digest}"


def index_dir_for(corpus: Path) -> Path:
    """The index folder of ``corpus`` when none is configured (see the module docstring)."""
    if is_default_corpus(corpus):
        return DEFAULT_INDEX
    return cache_root() / "indexes" / corpus_key(corpus)


def onnx_cache() -> Path:
    """Folder of the shared, verified ONNX exports (one subfolder per model weights sha256)."""
    return cache_root() / "onnx"
