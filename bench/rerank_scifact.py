"""Does the answer model help as a passage reranker? SciFact nDCG@10 with and without, one run.

    python bench/rerank_scifact.py [--depth 20] [--limit N] [--index-dir DIR]

Hybrid retrieval ranks passages; the reranked run reorders the top ``--depth`` passages by the
answer model's answer logit (documents then rank by their best passage, as ``qa eval`` does).
Both runs use the same index and the same queries; the index is built (or reused) like
``qa eval``'s.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from _common import SCRATCH, require_scifact


def main() -> None:
    import qa
    from qa.evaluation import doc_id_from_path, mean_metrics, ranking_metrics, read_beir

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depth", type=int, default=20)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--index-dir", type=Path, default=SCRATCH / "scifact-index")
    args = parser.parse_args()
    dataset = require_scifact()
    corpus = SCRATCH / "scifact-corpus"
    if not (args.index_dir / "CURRENT").exists():
        from qa.evaluation import materialize_beir_corpus

        materialize_beir_corpus(dataset, corpus)
        qa.build_index(corpus, args.index_dir)
    index = qa.open_index(args.index_dir)
    reader = qa.answer_model()
    queries, qrels = read_beir(dataset, "test")
    ids = list(queries)[: args.limit] if args.limit else list(queries)
    plain, reranked, seconds = [], [], []
    for query_id in ids:
        hits = index.search(queries[query_id], k=args.depth, mode="hybrid")
        order = [doc_id_from_path(h.path) for h in hits]
        started = time.perf_counter()
        readings = reader.read(queries[query_id], [h.text for h in hits])
        seconds.append(time.perf_counter() - started)
        by_model = [doc_id_from_path(h.path) for h, _ in sorted(
            zip(hits, readings, strict=True), key=lambda pair: -pair[1].logit)]
        plain.append(ranking_metrics(list(dict.fromkeys(order)), qrels[query_id]))
        reranked.append(ranking_metrics(list(dict.fromkeys(by_model)), qrels[query_id]))
    a, b = mean_metrics(plain), mean_metrics(reranked)
    print(f"SciFact test, {len(ids)} queries, top {args.depth} passages reranked:")
    print(f"  hybrid            nDCG@10 {a['ndcg@10']:.4f}  R@10 {a['recall@10']:.4f}")
    print(f"  hybrid + reader   nDCG@10 {b['ndcg@10']:.4f}  R@10 {b['recall@10']:.4f}")
    print(f"  reading cost per query: median {statistics.median(seconds) * 1000:.0f} ms")


if __name__ == "__main__":
    main()
