"""Tokenizing, the BM25 index and its term statistics.

One analysis (bm25s tokens, English stop words removed, Snowball-stemmed) serves the index,
queries and answer scoring, so a term means the same thing everywhere. The index is saved by
bm25s as ``.npy`` files written with ``allow_pickle=False`` plus JSON vocabulary and params.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np


@functools.cache
def _stemmer() -> Any:
    import Stemmer

    return Stemmer.Stemmer("english")


def tokens(texts: list[str]) -> list[list[str]]:
    """Stemmed, stop-word-free tokens of each text."""
    import bm25s

    return bm25s.tokenize(texts, stopwords="en", stemmer=_stemmer(), return_ids=False,
                          show_progress=False)


def query_tokens(text: str) -> list[str]:
    return tokens([text])[0]


def save(directory: Path, texts: list[str], make_dir: Callable[[Path], None] = Path.mkdir) -> list[Path]:
    """Index ``texts`` (row i = text i) into the new folder ``directory``, made by ``make_dir``
    (the store passes its fault-injection seam); returns its files (the caller makes them
    durable and checksums them)."""
    make_dir(directory)
    LexicalIndex.from_tokens(tokens(texts))._bm25.save(str(directory), allow_pickle=False,
                                                       show_progress=False)
    return sorted(directory.iterdir())


class LexicalIndex:
    """A BM25 index: per-row scores for a query, and the statistics of a term."""

    @classmethod
    def load(cls, directory: Path) -> LexicalIndex:
        import bm25s

        return cls(bm25s.BM25.load(str(directory), allow_pickle=False, load_corpus=False,
                                   show_progress=False))

    @classmethod
    def from_tokens(cls, rows: list[list[str]]) -> LexicalIndex:
        """An index of already analysed rows (see ``tokens``), held in memory."""
        import bm25s

        bm25 = bm25s.BM25()
        bm25.index(rows, show_progress=False)
        return cls(bm25)

    def __init__(self, bm25: Any) -> None:
        import numpy as np

        self._bm25 = bm25
        self._vocab: dict[str, int] = bm25.vocab_dict
        # The score matrix is CSC with one column per term: a column's length is its df.
        self._df = np.diff(self._bm25.scores["indptr"])
        self.num_docs = max(1, int(self._bm25.scores["num_docs"]))

    def scores(self, query: str) -> np.ndarray | None:
        """BM25 score of every row for ``query``, or None when no query term is indexed."""
        known = [t for t in query_tokens(query) if t in self._vocab]
        return self._bm25.get_scores(known) if known else None

    def doc_freq(self, term: str) -> int:
        """Number of rows that contain the (already analysed) ``term``."""
        tid = self._vocab.get(term)
        return int(self._df[tid]) if tid is not None and tid < len(self._df) else 0

    def idf(self, term: str) -> float:
        """BM25 (Lucene) idf of ``term``; a term no row contains gets the idf of a term in half
        a row, so it still counts as rarer than any term the corpus has."""
        df, n = self.doc_freq(term), self.num_docs
        if df == 0:
            return math.log(1 + n / 0.5)
        return math.log(1 + (n - df + 0.5) / (df + 0.5))
