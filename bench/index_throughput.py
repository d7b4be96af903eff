"""Indexing throughput: the qa pipeline vs raw SentenceTransformer.encode, same texts, one run.

    python bench/index_throughput.py [--docs N]   (default: the first 1000 documents)

Indexes SciFact's corpus (or its first N documents) through the whole pipeline (read, chunk,
embed, write FAISS + BM25, commit) and encodes exactly the same chunk texts with a bare
``SentenceTransformer.encode``. Prints chunks/s of both and the ratio (target >= 0.9). The
model is loaded (and torch imported) before either is timed, so both pay only for the work.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from typing import Any

from _common import SCRATCH, require_scifact


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # The full corpus (~13.7k chunks) takes ~17 min for both legs on 2 cores: sample by default.
    parser.add_argument("--docs", type=int, default=1000, help="first N documents (0: all)")
    parser.add_argument("--encoder", choices=["auto", "openvino", "onnx", "torch"], default="auto",
                        help="the pipeline's encoder (default: what `qa index` uses)")
    args = parser.parse_args()

    import qa
    from qa import materialize_beir_corpus

    scifact = require_scifact()
    corpus = SCRATCH / f"scifact-corpus-{args.docs or 'all'}"
    n_docs = materialize_beir_corpus(scifact, corpus, args.docs or None)
    index_dir = SCRATCH / f"throughput-index-{args.encoder}"

    reference: Any = qa.load_encoder("torch")  # warm: import + model load happen here, untimed
    reference.encode(["warm up"])
    # Untimed: a first build makes the verified ONNX export the fast encoders run; the timed
    # --rebuild below re-embeds every chunk but keeps that export, as `qa index --rebuild` does.
    shutil.rmtree(index_dir, ignore_errors=True)
    qa.build_index(corpus, index_dir, encoder="torch", export=args.encoder != "torch")

    started = time.perf_counter()
    report = qa.build_index(corpus, index_dir, rebuild=True, export=False, encoder=args.encoder)
    pipeline_seconds = time.perf_counter() - started

    texts = [s.chunk.embedding_text() for s in qa.open_index(index_dir).stored.chunks]
    started = time.perf_counter()
    reference.model.encode(texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True,
                           show_progress_bar=False)
    raw_seconds = time.perf_counter() - started

    pipeline_rate = report.chunks / pipeline_seconds
    raw_rate = len(texts) / raw_seconds
    print(f"documents {n_docs}, chunks {report.chunks} (embedded {report.chunks_embedded}), encoder {report.encoder}")
    print(f"pipeline (read+chunk+embed+write)  {pipeline_seconds:8.1f} s  {pipeline_rate:8.1f} chunks/s")
    print(f"raw SentenceTransformer.encode     {raw_seconds:8.1f} s  {raw_rate:8.1f} chunks/s")
    print(f"ratio pipeline/raw                 {pipeline_rate / raw_rate:8.3f}   (target >= 0.9)")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
