"""Warm query latency (hybrid, k=10) at SciFact size and at synthetic scale.

    python bench/query_latency.py [--sizes 100000] [--queries 200]

For each size: the full hybrid ranking of `Retriever.rank` (ONNX query embedding, FAISS,
BM25 over every chunk, fusion) for real SciFact test queries, p50 and p95 in ms. The baseline,
measured in the same run for the same queries, is embedding the query alone: the part no index
size can remove. Synthetic sizes tile SciFact's chunks (vectors jittered and re-normalised,
texts repeated) up to N rows; above `store.ANN_THRESHOLD` rows the index is IVF, and its
recall@10 against exact search is printed too, as is the recall of an IVF index forced onto
SciFact's real vectors (tiled vectors cluster more tightly than real ones). Takes ~6 min.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _common import require_scifact

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))


@dataclass
class _Synthetic:
    """Just what Retriever.rank reads from a stored index. This benchmark measures the retrieval
    step itself on synthetic 100k and 1M-row indexes, which no public call builds, so it is the
    one bench that imports step modules (dense, lexical, retrieval)."""

    faiss_index: Any
    bm25: Any
    size: int

    def lexical(self) -> Any:
        return self.bm25


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure(retriever: Any, queries: list[str]) -> tuple[list[float], list[float]]:
    for q in queries[:20]:  # untimed: first calls pay for lazy loads and cold caches
        retriever.rank(q + " (warm-up)", depth=10, mode="hybrid")
    search, embed = [], []
    for q in queries:
        started = time.perf_counter()
        retriever.encoder.encode([q])
        embed.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        retriever.rank(q, depth=10, mode="hybrid")
        search.append((time.perf_counter() - started) * 1000)
    return search, embed


def report(label: str, search: list[float], embed: list[float]) -> None:
    ratio = statistics.median(search) / statistics.median(embed)
    print(f"{label:<22} hybrid p50 {percentile(search, .5):6.1f} ms  p95 {percentile(search, .95):6.1f} ms | "
          f"embed-only p50 {percentile(embed, .5):5.1f} ms | ratio {ratio:4.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[100_000, 1_000_000])
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()

    import numpy as np

    import qa
    from qa import dense, lexical, read_beir
    from qa.retrieval import Retriever

    scifact = require_scifact()
    index = qa.open_index(qa.eval_cache_dir(scifact) / "index")
    queries = list(read_beir(scifact, "test")[0].values())[: args.queries]
    retriever = index.retriever
    retriever.encoder.encode(["warm up"])
    retriever.rank("warm up", depth=10)
    report(f"SciFact ({index.stored.size} chunks)", *measure(retriever, queries))

    import faiss

    def recall_at_10(approximate: Any, vectors: Any) -> float:
        exact = faiss.IndexFlatIP(vectors.shape[1])
        exact.add(vectors)
        q = retriever.encoder.encode(queries)
        _, approx_rows = approximate.search(q, 10)
        _, exact_rows = exact.search(q, 10)
        return float(np.mean([len(set(a) & set(e)) / 10 for a, e in zip(approx_rows, exact_rows, strict=True)]))

    base_vectors = index.stored.vectors()
    real_ivf = dense.build(base_vectors, ann_threshold=0)
    print(f"{'':<22} IVF forced onto SciFact's real vectors: recall@10 vs exact {recall_at_10(real_ivf, base_vectors):.3f}")
    base_tokens = lexical.tokens([s.chunk.embedding_text() for s in index.stored.chunks])
    rng = np.random.default_rng(0)
    for size in args.sizes:
        reps = -(-size // len(base_vectors))
        vectors = np.tile(base_vectors, (reps, 1))[:size]
        vectors = vectors + rng.normal(0, 0.02, vectors.shape).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        started = time.perf_counter()
        faiss_index = dense.build(vectors)
        built = time.perf_counter() - started
        bm25 = lexical.LexicalIndex.from_tokens((base_tokens * reps)[:size])  # same texts: tokenised once
        synthetic = Retriever(_Synthetic(faiss_index, bm25, size), retriever.encoder)  # type: ignore[arg-type]
        label = f"{size} chunks ({type(faiss_index).__name__})"
        report(label, *measure(synthetic, queries))
        if type(faiss_index).__name__ != "IndexFlatIP":
            print(f"{'':<22} recall@10 vs exact: {recall_at_10(faiss_index, vectors):.3f}   (index built in {built:.0f} s)")
        del faiss_index, bm25, synthetic, vectors

if __name__ == "__main__":
    main()
