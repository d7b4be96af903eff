"""Harness check: reproduce the published all-MiniLM-L6-v2 SciFact figure (nDCG@10 0.645).

    python bench/published_dense.py [--split test] [--encoder torch|openvino]

The published figure (MTEB/BEIR) embeds each document whole, "title text" truncated at the
model's 256 word pieces, and ranks documents by exact cosine. This script does exactly that,
outside qa's chunking, and scores the ranking with qa's own metric code and BEIR reader
(`qa.evaluation`). Getting 0.645 back shows the reader and the metrics are right, so the gap to
`qa eval`'s dense figure comes from qa's retrieval (chunks, title prefix, best chunk per
document), not from the harness. Takes ~8 min with torch (the published setup), ~3 with OpenVINO.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from _common import require_scifact

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

PUBLISHED_NDCG10 = 0.645


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", default="test")
    parser.add_argument("--encoder", choices=["torch", "openvino"], default="torch")
    args = parser.parse_args()

    import numpy as np

    import qa
    from qa import mean_metrics, ranking_metrics, read_beir

    scifact = require_scifact()
    queries, qrels = read_beir(scifact, args.split)
    docs = [json.loads(line) for line in (scifact / "corpus.jsonl").open(encoding="utf-8")]
    doc_ids = [str(d["_id"]) for d in docs]
    texts = [f"{d.get('title', '')} {d['text']}".strip() for d in docs]
    if args.encoder == "torch":
        encoder = qa.load_encoder("torch")
    else:
        try:
            encoder = qa.load_encoder(args.encoder, qa.open_index(qa.eval_cache_dir(scifact) / "index"))
        except qa.QAError as exc:
            raise SystemExit(f"{exc}: run `qa eval ../shared/bench/scifact` first") from exc
    started = time.perf_counter()
    doc_vectors = encoder.encode(texts)
    query_ids = list(queries)
    query_vectors = encoder.encode([queries[q] for q in query_ids])
    seconds = time.perf_counter() - started

    scores = query_vectors @ doc_vectors.T
    per_query = []
    for i, query_id in enumerate(query_ids):
        top = np.argsort(-scores[i])[:100]
        per_query.append(ranking_metrics([doc_ids[j] for j in top], qrels[query_id]))
    metrics = mean_metrics(per_query)
    n = len(query_ids)
    print(f"SciFact {args.split}: {n} queries, {len(docs)} whole documents, encoder {args.encoder} "
          f"(max {encoder.spec.max_seq_length} word pieces), embedded in {seconds:.0f} s")
    print("  ".join(f"{k} {v:.4f}" for k, v in metrics.items()))
    print(f"published nDCG@10 {PUBLISHED_NDCG10}: difference {metrics['ndcg@10'] - PUBLISHED_NDCG10:+.4f}")


if __name__ == "__main__":
    main()
