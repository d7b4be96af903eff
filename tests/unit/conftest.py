"""The unit layer: pure logic, with a fake encoder instead of the model (seconds, not minutes).

``FakeEncoder`` is deterministic and cheap: a text's vector is its hashed bag of lower-cased
words, normalised, so texts that share words are close. It stands in wherever the real model
would only make a test slow (store commits, incremental updates, fusion, answer rules,
start-up policy); what the model itself must do is tested in tests/integration.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

import qa


class FakeEncoder:
    kind = "fake"

    def __init__(self) -> None:
        self.spec = qa.model_spec()
        self.calls = 0
        self.texts = 0

    def encode(self, texts: Sequence[str], progress=None) -> np.ndarray:
        self.calls += 1
        self.texts += len(texts)
        out = np.zeros((len(texts), self.spec.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                out[i, int(hashlib.md5(word.encode()).hexdigest()[:8], 16) % self.spec.dim] += 1.0
            out[i] /= max(1e-9, float(np.linalg.norm(out[i])))
        if progress:
            progress(len(texts))
        return out


@pytest.fixture()
def fake() -> FakeEncoder:
    return FakeEncoder()


@pytest.fixture()
def fake_index(corpus_copy, tmp_path, fake) -> tuple[Path, Path]:
    """(corpus, index_dir): a copy of the shipped corpus indexed with the fake encoder."""
    index_dir = tmp_path / "embeddings"
    qa.build_index(corpus_copy, index_dir, encoder=fake, export=False)
    return corpus_copy, index_dir
