"""Query -> ranked hits: dense (FAISS), lexical (BM25) or both fused.

Fusion is a convex combination of the cosine similarity and the BM25 score scaled by the best
BM25 score of the query; the weight was tuned on SciFact's train split (see README "Quality").
Hits with the same text (the same content under two file names) are returned once.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from qa.embedding import Encoder, OnnxEncoder, TorchEncoder
from qa.store import StoredIndex, export_intact, lexical_query_tokens
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


def query_encoder(stored: StoredIndex, choice: str = "auto", notices: list[str] | None = None) -> Encoder:
    """The encoder for queries: the index's verified ONNX export unless told otherwise.

    Falls back to sentence-transformers (with a notice) when the export is missing or its
    checksum does not match the manifest.
    """
    notices = notices if notices is not None else []
    path = stored.onnx_path
    if choice in ("auto", "onnx") and path is not None:
        assert stored.manifest.onnx is not None  # onnx_path is set only when it is
        if export_intact(stored.root, stored.manifest.onnx):
            try:
                return OnnxEncoder(path)
            except Exception as exc:  # a corrupt export only costs speed
                notices.append(f"ONNX model {path} failed to load ({type(exc).__name__}); using sentence-transformers")
        else:
            notices.append(f"ONNX model {path} is missing or fails its checksum; using sentence-transformers (run `qa index` to re-export)")
    elif choice == "onnx":
        notices.append("this index has no ONNX export; using sentence-transformers (run `qa index` to export)")
    return TorchEncoder()


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

    def _dense(self, vector: np.ndarray, depth: int) -> dict[int, float]:
        import faiss

        # One query is a small scan (IVF above store.ANN_THRESHOLD rows). With OpenMP threads,
        # FAISS's idle workers spin and starve onnxruntime's on a 2-core machine: hybrid p50 went
        # from 20 ms to 7.5 ms on SciFact with one thread. The setting is per calling thread, and
        # it is restored afterwards for whatever this thread does next (such as indexing).
        threads = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1)
        try:
            scores, rows = self.stored.faiss_index.search(vector.reshape(1, -1), depth)
        finally:
            faiss.omp_set_num_threads(threads)
        return {int(r): float(s) for r, s in zip(rows[0], scores[0], strict=True) if r >= 0}

    def _lexical_all(self, query: str) -> np.ndarray | None:
        """BM25 score of every chunk, or None when no query term is in the vocabulary."""
        bm25 = self.stored.lexical()
        tokens = [t for t in lexical_query_tokens(query) if t in bm25.vocab_dict]
        if not tokens:
            return None
        return bm25.get_scores(tokens)

    def rank(self, query: str, depth: int = 10, mode: str = "hybrid", vector: np.ndarray | None = None) -> list[Scored]:
        """Chunk rows with their scores, best first."""
        import numpy as np

        size = self.stored.size
        if size == 0 or not query.strip():
            return []
        pool = min(size, max(CANDIDATES, depth))
        dense: dict[int, float] = {}
        lexical_all = None
        if mode in ("dense", "hybrid"):
            if vector is None:
                vector = self.embed_cached([query])[0]  # the answerer embeds it again
            dense = self._dense(vector, pool)
        if mode in ("lexical", "hybrid"):
            lexical_all = self._lexical_all(query)
        lexical: dict[int, float] = {}
        if lexical_all is not None:
            top = np.argpartition(-lexical_all, min(pool, size - 1))[:pool]
            lexical = {int(r): float(lexical_all[r]) for r in top if lexical_all[r] > 0}
        if mode == "dense":
            ranked = [Scored(r, s, s, None) for r, s in dense.items()]
        elif mode == "lexical":
            ranked = [Scored(r, s, None, s) for r, s in lexical.items()]
        else:
            rows = set(dense) | set(lexical)
            missing = [r for r in rows if r not in dense]
            if missing and vector is not None:
                stacked = np.vstack([self.stored.faiss_index.reconstruct(r) for r in missing])
                dense.update(zip(missing, (stacked @ vector).tolist(), strict=True))
            best_lexical = max(lexical.values(), default=0.0) or 1.0
            w = self.dense_weight
            ranked = []
            for r in rows:
                lex = float(lexical_all[r]) if lexical_all is not None else 0.0
                ranked.append(Scored(r, w * dense[r] + (1 - w) * lex / best_lexical, dense[r], lex))
        ranked.sort(key=lambda s: (-s.score, s.row))
        return ranked

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
