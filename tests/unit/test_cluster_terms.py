"""qa's own BM25 scoring for shards (qa.cluster.terms) against bm25s, the single index's scorer:
with the collection's statistics, each shard must give its rows the very float32 scores one
bm25s index over the whole collection gives them (so sharded rankings equal the single one's,
ties included)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

bm25s = pytest.importorskip("bm25s")

from qa.cluster.terms import TermStats, global_bm25, lucene_idf  # noqa: E402

WORDS = [f"w{i}" for i in range(12)]  # a small vocabulary: terms recur, dfs and ties vary
documents = st.lists(st.lists(st.sampled_from(WORDS), max_size=30), min_size=1, max_size=25)


def _reference(docs: list[list[str]]):
    bm25 = bm25s.BM25()
    bm25.index(docs, show_progress=False)
    return bm25


def _queries(docs: list[list[str]]) -> list[list[str]]:
    seen = sorted({t for doc in docs for t in doc})
    return [[t] for t in seen] + [seen[::2], seen, seen[:3] * 2]


@settings(max_examples=60, deadline=None)
@given(documents)
def test_one_shard_scores_exactly_as_bm25s(docs):
    if not any(docs):
        return  # bm25s cannot index a collection without a single term
    reference, ours = _reference(docs), global_bm25(docs, TermStats.of(docs))
    for query in _queries(docs):
        assert np.array_equal(ours.get_scores(query), reference.get_scores(query)), query


@settings(max_examples=60, deadline=None)
@given(documents, st.lists(st.integers(0, 3), min_size=25, max_size=25))
def test_shards_scored_with_collection_statistics_match_the_whole_collection(docs, assignment):
    if not any(docs):
        return
    parts = [[i for i in range(len(docs)) if assignment[i] == s] for s in range(4)]
    parts = [p for p in parts if p]
    stats = TermStats.total([TermStats.of([docs[i] for i in p]) for p in parts])
    assert stats == TermStats.of(docs)
    reference = _reference(docs)
    for rows in parts:
        shard = global_bm25([docs[i] for i in rows], stats)
        for query in _queries(docs):
            known = [t for t in query if t in shard.vocab_dict]
            expected = reference.get_scores(query)[rows]
            got = shard.get_scores(known) if known else np.zeros(len(rows), dtype=np.float32)
            assert np.array_equal(got, expected), (query, rows)


def test_lucene_idf_is_the_formula_and_never_negative():
    assert lucene_idf(1, 10) == pytest.approx(math.log(1 + 9.5 / 1.5))
    assert lucene_idf(10, 10) > 0  # a term in every document still weighs a little


def test_a_shard_term_missing_from_the_statistics_is_refused():
    with pytest.raises(ValueError, match="not in the collection statistics"):
        global_bm25([["w1", "w2"]], TermStats.of([["w1"]]))
