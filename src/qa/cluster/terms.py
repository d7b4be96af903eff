"""Cluster-wide BM25 statistics, and a shard's BM25 built with them.

A BM25 score depends on the whole collection: the number of documents N, each term's document
frequency df and the average document length. A shard that scored its chunks with its own N, df
and average would rank differently from one index over the same corpus (a term rare in one shard
but common overall would weigh too much there). So each build task records its shard's counts,
the commit sums them, and every shard actor scores with the sums: the scores are then the very
numbers the single index computes (bm25s "lucene" variant, float32).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True)
class TermStats:
    """Counts of one shard or, summed, of the whole collection."""

    docs: int
    tokens: int  # sum of document lengths in tokens
    df: dict[str, int]

    @staticmethod
    def of(token_lists: list[list[str]]) -> TermStats:
        df: Counter[str] = Counter()
        for tokens in token_lists:
            df.update(set(tokens))
        return TermStats(len(token_lists), sum(len(t) for t in token_lists), dict(df))

    @staticmethod
    def total(parts: list[TermStats]) -> TermStats:
        df: Counter[str] = Counter()
        for part in parts:
            df.update(part.df)
        return TermStats(sum(p.docs for p in parts), sum(p.tokens for p in parts), dict(sorted(df.items())))

    def to_dict(self) -> dict[str, Any]:
        return {"docs": self.docs, "tokens": self.tokens, "df": self.df}

    @staticmethod
    def from_dict(data: dict[str, Any]) -> TermStats:
        return TermStats(int(data["docs"]), int(data["tokens"]), {str(k): int(v) for k, v in data["df"].items()})


K1, B = 1.5, 0.75  # bm25s's defaults, which the single index is built with (lexical.py)


def lucene_idf(df: int, docs: int) -> float:
    """BM25's idf in the Lucene variant (never negative: a term in every document weighs a little)."""
    return math.log(1 + (docs - df + 0.5) / (df + 0.5))


def score_matrix(token_ids: list[list[int]], idf: np.ndarray, average: np.floating) -> Any:
    """The BM25 score of every (document, term) pair that occurs, as a CSC matrix with one row
    per document and one column per term (the layout bm25s scores queries from).

    The arithmetic is the single index's, operation for operation, so the float32 results are
    bit-identical (tests/unit/test_cluster_terms.py checks it against bm25s): the term-frequency
    part ``tf / (k1 * ((1 - b) + b * len / avg) + tf)`` in float64 from float32 counts, times
    the float32 idf, rounded to float32 once at the end.
    """
    import numpy as np
    import scipy.sparse as sp

    n_terms = len(idf)
    size = sum(len(set(doc)) for doc in token_ids)
    data = np.empty(size, dtype=np.float32)
    rows = np.empty(size, dtype=np.int32)
    cols = np.empty(size, dtype=np.int32)
    at = 0
    for row, doc in enumerate(token_ids):
        counts = Counter(doc)
        terms = np.fromiter(counts.keys(), dtype=np.int32, count=len(counts))
        tf = np.fromiter(counts.values(), dtype=np.float32, count=len(counts))
        tfc = tf / (K1 * ((1 - B) + B * len(doc) / average) + tf)
        data[at:at + len(counts)] = idf[terms] * tfc
        rows[at:at + len(counts)] = row
        cols[at:at + len(counts)] = terms
        at += len(counts)
    return sp.csc_matrix((data, (rows, cols)), shape=(len(token_ids), n_terms), dtype=np.float32)


def global_bm25(token_lists: list[list[str]], stats: TermStats) -> Any:
    """A bm25s index over one shard's chunks whose idf and length normalisation use the
    collection's ``stats``: ``get_scores`` then returns the single index's scores for these chunks.

    qa computes the score matrix itself (``score_matrix``) and hands it to a ``bm25s.BM25``
    through the attributes its saved indexes load into, so queries are scored by bm25s exactly
    as the single index's are, without reaching into bm25s's private scoring functions.
    """
    import bm25s
    import numpy as np

    vocab: dict[str, int] = {}
    for tokens in token_lists:
        for token in tokens:
            vocab.setdefault(token, len(vocab))
    missing = [t for t in vocab if t not in stats.df]
    if missing:
        raise ValueError(f"{len(missing)} shard terms are not in the collection statistics (e.g. {missing[0]!r})")
    idf = np.array([lucene_idf(stats.df[t], stats.docs) for t in vocab], dtype=np.float32)
    # The single index's average is np.mean over int lengths: an exact sum divided by N, float64.
    average = np.float64(stats.tokens) / np.float64(max(stats.docs, 1))
    matrix = score_matrix([[vocab[t] for t in tokens] for tokens in token_lists], idf, average)
    bm25 = bm25s.BM25(k1=K1, b=B, method="lucene", idf_method="lucene")
    bm25.scores = {"data": matrix.data, "indices": matrix.indices, "indptr": matrix.indptr,
                   "num_docs": len(token_lists)}
    vocab[""] = len(vocab)  # as bm25s adds it (create_empty_token); it scores nothing
    bm25.vocab_dict = vocab
    bm25.unique_token_ids_set = set(vocab.values())
    bm25.nonoccurrence_array = None  # only BM25L and BM25+ use one
    return bm25


class CollectionTerms:
    """What answering reads from a BM25 index for term weights (``vocab_dict``, per-term document
    counts as CSC ``indptr``, ``num_docs``), here for the whole collection."""

    def __init__(self, stats: TermStats) -> None:
        import numpy as np

        self.vocab_dict: dict[str, int] = {term: i for i, term in enumerate(stats.df)}
        counts: np.ndarray = np.fromiter(stats.df.values(), dtype=np.int64, count=len(stats.df))
        self.scores = {"indptr": np.concatenate([[0], np.cumsum(counts)]), "num_docs": stats.docs}
