"""Tune the hybrid fusion weight on SciFact's *train* split (never on test).

    python bench/tune_fusion.py [--weights 0.3 0.4 0.5 0.6 0.7]

Needs the SciFact index that `qa eval ../shared/bench/scifact` builds (it is reused). Prints
nDCG@10 on train for each dense weight w in  w * cosine + (1 - w) * bm25 / max_bm25.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from _common import require_scifact

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=float, nargs="+", default=[0.3, 0.4, 0.5, 0.6, 0.7])
    parser.add_argument("--split", default="train")
    args = parser.parse_args()

    import qa
    from qa import evaluate_beir, read_beir

    scifact = require_scifact()
    index = qa.open_index(qa.eval_cache_dir(scifact) / "index")
    queries, qrels = read_beir(scifact, args.split)
    print(f"{args.split}: {len(queries)} queries")
    for weight in args.weights:
        index.retriever.dense_weight = weight
        m = evaluate_beir(index, queries, qrels, modes=("hybrid",))["hybrid"]
        print(f"w={weight:.2f}  nDCG@10 {m['ndcg@10']:.4f}  R@100 {m['recall@100']:.4f}")


if __name__ == "__main__":
    main()
