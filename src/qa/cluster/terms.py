"""Cluster-wide BM25 statistics, and a shard's BM25 built with them.

A BM25 score depends on the whole collection: the number of documents N, each term's document
frequency df and the average document length. A shard that scored its chunks with its own N, df
and average would rank differently from one index over the same corpus (a term rare in one shard
but common overall would weigh too much there). So each build task records its shard's counts,
the commit sums them, and every shard actor scores with the sums: the scores are then the very
numbers the single index computes (bm25s "lucene" variant, float32).
"""

from __future__ import annotations

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


def global_bm25(token_lists: list[list[str]], stats: TermStats) -> Any:
    """A bm25s index over one shard's chunks whose idf and length normalisation use the
    collection's ``stats``: ``get_scores`` then returns the single index's scores for these chunks.

    It follows bm25s's own ``index`` step by step (vocabulary, then scores, then the CSC matrix)
    and only swaps the three statistics, so the float32 arithmetic is the same.
    """
    import bm25s
    import numpy as np
    import scipy.sparse as sp
    from bm25s import scoring

    bm25 = bm25s.BM25()
    vocab: dict[str, int] = {}
    for tokens in token_lists:
        for token in tokens:
            vocab.setdefault(token, len(vocab))
    ids = [[vocab[t] for t in tokens] for tokens in token_lists]
    local_df: dict[int, int] = dict.fromkeys(range(len(vocab)), 0)
    for doc in ids:
        for tid in set(doc):
            local_df[tid] += 1
    missing = [t for t in vocab if t not in stats.df]
    if missing:
        raise ValueError(f"{len(missing)} shard terms are not in the collection statistics (e.g. {missing[0]!r})")
    global_df = {vocab[t]: stats.df[t] for t in vocab}
    idf = scoring._build_idf_array(global_df, n_docs=stats.docs,
                                   compute_idf_fn=scoring._select_idf_scorer(bm25.idf_method),
                                   dtype=bm25.dtype)
    # The single index's average is np.mean over int lengths: an exact sum divided by N, float64.
    average: np.floating = np.float64(stats.tokens) / np.float64(max(stats.docs, 1))
    data, doc_idx, vocab_idx = scoring._build_scores_and_indices_for_matrix(
        corpus_token_ids=ids, idf_array=idf, avg_doc_len=average, doc_frequencies=local_df,
        k1=bm25.k1, b=bm25.b, delta=bm25.delta, nonoccurrence_array=None, method=bm25.method,
        dtype=bm25.dtype, int_dtype=bm25.int_dtype, show_progress=False,
    )
    matrix = sp.csc_matrix((data, (doc_idx, vocab_idx)), shape=(len(ids), len(vocab)), dtype=bm25.dtype)
    bm25.scores = {"data": matrix.data, "indices": matrix.indices, "indptr": matrix.indptr,
                   "num_docs": len(ids)}
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
