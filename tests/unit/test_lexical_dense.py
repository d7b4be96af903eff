"""The lexical and dense indexes on small hand-made inputs (no model): term statistics against
hand-computed values, FAISS against brute-force numpy, and save/load round trips."""

from __future__ import annotations

import math

import numpy as np
import pytest

from qa import dense, lexical
from qa.errors import IndexCorruptError

TEXTS = ["The cat sat on the mat.", "A dog sat down.", "Birds flew south; birds sing."]


def test_analysis_stems_and_drops_stop_words():
    assert lexical.query_tokens("The cats are sitting") == ["cat", "sit"]
    assert lexical.tokens(TEXTS)[2] == ["bird", "flew", "south", "bird", "sing"]


def test_term_statistics_by_hand(tmp_path):
    index = lexical.LexicalIndex.from_tokens(lexical.tokens(TEXTS))
    assert index.num_docs == 3
    assert (index.doc_freq("sat"), index.doc_freq("cat"), index.doc_freq("bird"), index.doc_freq("zebra")) == (2, 1, 1, 0)
    assert index.idf("sat") == pytest.approx(math.log(1 + (3 - 2 + 0.5) / (2 + 0.5)))
    assert index.idf("cat") == pytest.approx(math.log(1 + (3 - 1 + 0.5) / (1 + 0.5)))
    assert index.idf("zebra") == pytest.approx(math.log(1 + 3 / 0.5))  # unknown: rarer than any
    assert index.idf("zebra") > index.idf("cat") > index.idf("sat")


def test_scores_and_round_trip(tmp_path):
    files = lexical.save(tmp_path / "lex", TEXTS)
    assert files and all(f.parent == tmp_path / "lex" for f in files)
    loaded = lexical.LexicalIndex.load(tmp_path / "lex")
    in_memory = lexical.LexicalIndex.from_tokens(lexical.tokens(TEXTS))
    scores = loaded.scores("cat sat")
    assert scores is not None and np.allclose(scores, in_memory.scores("cat sat"))
    assert scores[0] > scores[1] > 0 and scores[2] == 0  # both terms > one term > none
    assert loaded.scores("zebra unicorn") is None
    assert loaded.doc_freq("sat") == 2


def unit_vectors(n: int, dim: int = 16, seed: int = 0) -> np.ndarray:
    vectors = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_exact_search_equals_brute_force():
    vectors = unit_vectors(200)
    index = dense.build(vectors)
    assert type(index).__name__ == "IndexFlatIP"
    query = unit_vectors(1, seed=1)[0]
    found = dense.search(index, query, 10)
    brute = vectors @ query
    assert list(found) == list(np.argsort(-brute, kind="stable")[:10])
    assert np.allclose(list(found.values()), np.sort(brute)[::-1][:10], atol=1e-5)
    rows = [3, 7]
    assert np.allclose(dense.cosines(index, rows, query), brute[rows], atol=1e-5)


def test_ivf_above_the_threshold_and_serialize_round_trip(monkeypatch):
    monkeypatch.setattr(dense, "IVF_MIN_POINTS_PER_LIST", 5)
    vectors = unit_vectors(400)
    index = dense.build(vectors, ann_threshold=100)
    assert type(index).__name__ == "IndexIVFFlat"
    assert np.allclose(dense.vectors(index, 16), vectors)  # direct map: row i is vector i
    pieces: list[bytes] = []
    dense.serialize(index, pieces.append)
    loaded = dense.load(np.frombuffer(b"".join(pieces), dtype=np.uint8), "test")
    query = unit_vectors(1, seed=2)[0]
    assert dense.search(loaded, query, 5) == dense.search(index, query, 5)
    assert dense.describe(loaded)["type"] == "IndexIVFFlat"


def test_unreadable_bytes_are_a_typed_error():
    with pytest.raises(IndexCorruptError, match="cannot be read by FAISS"):
        dense.load(np.frombuffer(b"not a faiss index at all", dtype=np.uint8), "vectors.faiss")


def test_a_failing_writer_surfaces_as_itself():
    def full(piece: bytes) -> None:
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        dense.serialize(dense.build(unit_vectors(10)), full)


def test_empty_index():
    index = dense.build(np.zeros((0, 16), dtype=np.float32))
    assert dense.vectors(index, 16).shape == (0, 16)
