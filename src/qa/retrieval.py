"""Query -> ranked hits: dense (FAISS), lexical (BM25) or both fused.

Fusion is a convex combination of the cosine similarity and the BM25 score scaled by the best
BM25 score of the query; the weight was tuned on SciFact's train split (see README "Quality").
Hits with the same text (the same content under two file names) are returned once.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from qa.dense import cosines
from qa.dense import search as search_dense
from qa.embedding import Encoder
from qa.store import StoredIndex
from qa.types import Hit

if TYPE_CHECKING:
    import numpy as np

DENSE_WEIGHT = 0.75  # hybrid = w * cosine + (1 - w) * bm25 / max_bm25; tuned on SciFact train
CANDIDATES = 100  # per retriever, before fusion
SENTENCE_CACHE = 4096  # sentence vectors kept for answering


@dataclass(frozen=True)
class Scored:
    row: int
    score: float
    dense: float | None
    lexical: float | None


class Retriever:
    def __init__(self, stored: StoredIndex, encoder: Encoder, dense_weight: float = DENSE_WEIGHT) -> None:
        self.stored = stored
        self.encoder = encoder
        self.dense_weight = dense_weight
        self._cache: dict[str, np.ndarray] = {}

    def embed(self, texts: list[str]) -> np.ndarray:
        return self.encoder.encode(texts)

    def embed_cached(self, texts: list[str]) -> np.ndarray:
        """Like ``embed``, remembering recent texts: follow-up questions meet the same
        passages again, and embedding their sentences is most of an answer's cost."""
        import numpy as np

        missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if missing:
            for text, vector in zip(missing, self.embed(missing), strict=True):
                self._cache[text] = vector
            while len(self._cache) > SENTENCE_CACHE:
                self._cache.pop(next(iter(self._cache)))  # oldest first (dicts keep order)
        return np.vstack([self._cache[t] for t in texts])

    def rank(self, query: str, depth: int = 10, mode: str = "hybrid", vector: np.ndarray | None = None) -> list[Scored]:
        """Chunk rows with their scores, best first: at least ``depth`` of them when the index
        has that many candidates. ``vector`` is the query's embedding, if already computed."""
        size = self.stored.size
        if size == 0 or not query.strip():
            return []
        pool = min(size, max(CANDIDATES, depth))
        if mode == "lexical":
            top, _ = self._lexical(query, pool)
            ranked = [Scored(r, s, None, s) for r, s in top.items()]
        else:
            if vector is None:
                vector = self.embed_cached([query])[0]  # the answerer embeds it again
            dense = search_dense(self.stored.faiss_index, vector, pool)
            if mode == "dense":
                ranked = [Scored(r, s, s, None) for r, s in dense.items()]
            else:
                ranked = self._fuse(dense, *self._lexical(query, pool), vector)
        ranked.sort(key=lambda s: (-s.score, s.row))
        return ranked

    def _lexical(self, query: str, pool: int) -> tuple[dict[int, float], np.ndarray | None]:
        """The ``pool`` best rows by BM25 (positive scores only), and every row's score (None
        when no query term is indexed)."""
        import numpy as np

        scores = self.stored.lexical().scores(query)
        if scores is None:
            return {}, None
        top = np.argpartition(-scores, min(pool, len(scores) - 1))[:pool]
        return {int(r): float(scores[r]) for r in top if scores[r] > 0}, scores

    def _fuse(self, dense: dict[int, float], lexical: dict[int, float],
              lexical_all: np.ndarray | None, vector: np.ndarray) -> list[Scored]:
        """Every candidate of either retriever, scored w·cosine + (1-w)·bm25/max_bm25. A row
        only one retriever found gets its other score computed exactly."""
        rows = set(dense) | set(lexical)
        missing = [r for r in rows if r not in dense]
        if missing:
            dense.update(zip(missing, cosines(self.stored.faiss_index, missing, vector), strict=True))
        best_lexical = max(lexical.values(), default=0.0) or 1.0
        w = self.dense_weight
        fused = []
        for r in rows:
            lex = float(lexical_all[r]) if lexical_all is not None else 0.0
            fused.append(Scored(r, w * dense[r] + (1 - w) * lex / best_lexical, dense[r], lex))
        return fused

    def search(self, query: str, k: int = 5, mode: str = "hybrid") -> list[Hit]:
        """The ``k`` best chunks for ``query`` as hits, duplicates of the same text removed."""
        hits: list[Hit] = []
        seen: set[str] = set()
        for scored in self.rank(query, depth=k * 3, mode=mode):
            chunk = self.stored.chunks[scored.row].chunk
            key = hashlib.sha256(chunk.text.encode()).hexdigest()
            if key in seen:
                continue
            seen.add(key)
            hits.append(Hit(
                text=chunk.text, path=chunk.path, title=chunk.title, heading_path=chunk.heading_path,
                start_line=chunk.start_line, end_line=chunk.end_line, start_char=chunk.start_char,
                end_char=chunk.end_char, score=round(scored.score, 6), rank=len(hits) + 1,
                chunk_id=scored.row, page=chunk.page,
                dense_score=None if scored.dense is None else round(scored.dense, 6),
                lexical_score=None if scored.lexical is None else round(scored.lexical, 6),
            ))
            if len(hits) == k:
                break
        return hits
