"""Shared fixtures. The real model and real FAISS: the shipped corpus is indexed once per
session (with its ONNX export), and tests that change an index work on copies."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "corpus"
QUESTIONS = ROOT / "questions" / "shipped-corpus.jsonl"


@pytest.fixture(scope="session", autouse=True)
def user_cache(tmp_path_factory) -> Iterator[Path]:
    """$XDG_CACHE_HOME for the whole run: qa's user cache (the shared ONNX export, the indexes
    of corpora without --index-dir) goes to a temporary folder, never ~/.cache, and is shared
    by the run's tests (and their subprocesses) so the model is exported once. A test that
    needs a cold cache sets its own with monkeypatch."""
    cache = tmp_path_factory.mktemp("xdg-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(cache))
        yield cache


@pytest.fixture(scope="session")
def tokenizer():
    from qa.embedding import ModelTokenizer

    return ModelTokenizer()


@pytest.fixture(scope="session")
def shipped_index_dir(tmp_path_factory) -> Path:
    import qa

    index_dir = tmp_path_factory.mktemp("shipped") / "embeddings"
    qa.build_index(CORPUS, index_dir)
    return index_dir


@pytest.fixture(scope="session")
def shipped_index(shipped_index_dir):
    import qa

    return qa.open_index(shipped_index_dir)


@pytest.fixture()
def corpus_copy(tmp_path) -> Path:
    target = tmp_path / "corpus"
    shutil.copytree(CORPUS, target)
    return target


@pytest.fixture()
def index_copy(shipped_index_dir, tmp_path) -> Path:
    target = tmp_path / "embeddings"
    shutil.copytree(shipped_index_dir, target)
    return target
