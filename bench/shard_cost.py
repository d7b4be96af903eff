"""What one shard costs to serve: memory, load time and query time of a shard actor at N chunks.

    python bench/shard_cost.py [--chunks 100000]

Builds one shard of N chunks (SciFact abstracts tiled, as bench/index_memory.py does, with its
stand-in encoder: embedding 100k real chunks takes ~25 min here; the vectors' shapes and the
FAISS index type are the real ones), then, in a fresh child process with numpy, FAISS and bm25s
already imported, loads it the way a shard actor does and reports, step by step:

* open_stored: chunk texts (``chunks.jsonl`` parsed) and the FAISS index (IVF above 50k);
* the BM25 index rebuilt with collection-wide statistics (tokenising every chunk);
* one fan-out call's work in the shard (``candidates``, hybrid, pool 100), p50 over 50 queries;
* the bytes per vector of the FAISS IVF-Flat index against an IVF-PQ (48 x 8-bit codes) trained
  on the same vectors: the switch the capacity plan in docs/scale.md turns on.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _common import SCRATCH, require_scifact
from index_memory import make_corpus

ROOT = Path(__file__).resolve().parent.parent


def _rss_mib() -> float:
    import os

    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def build(corpus: Path, index_dir: Path) -> None:
    sys.path.insert(0, str(ROOT / "bench"))
    from index_memory import child

    child(corpus, index_dir, stand_in=True)


def measure(index_dir: Path, queries: list[str]) -> dict[str, float]:
    sys.path.insert(0, str(ROOT / "src"))
    import bm25s  # noqa: F401  imports are not the shard's cost
    import faiss
    import numpy as np

    from qa import lexical, store
    from qa.cluster.manifest import write_terms
    from qa.cluster.terms import TermStats, global_bm25
    from qa.embedding import model_spec

    out: dict[str, float] = {}
    base = _rss_mib()
    started = time.perf_counter()
    stored = store.open_stored(index_dir, model_spec().name)
    out["open_s"] = time.perf_counter() - started
    out["open_mib"] = _rss_mib() - base
    out["chunks"] = stored.size
    generation = stored.generation
    out["chunks_jsonl_mib"] = (generation / "chunks.jsonl").stat().st_size / 2**20
    out["faiss_mib"] = (generation / "vectors.faiss").stat().st_size / 2**20
    out["faiss_type"] = type(stored.faiss_index).__name__  # type: ignore[assignment]

    texts = [s.chunk.embedding_text() for s in stored.chunks]
    mark = _rss_mib()
    started = time.perf_counter()
    tokens = lexical.tokens(texts)
    stats = TermStats.of(tokens)
    out["tokenise_s"] = time.perf_counter() - started
    started = time.perf_counter()
    bm25 = global_bm25(tokens, stats)
    out["bm25_build_s"] = time.perf_counter() - started
    del tokens
    out["bm25_mib"] = _rss_mib() - mark
    out["bm25_matrix_mib"] = sum(bm25.scores[k].nbytes for k in ("data", "indices", "indptr")) / 2**20
    out["terms_json_mib"] = write_terms(index_dir, stats)["bytes"] / 2**20
    stored._lexical = lexical.LexicalIndex(bm25)  # serve the collection-wide BM25, as ShardServer does

    from qa.cluster.serve import ShardServer

    server = ShardServer.__new__(ShardServer)  # the loaded parts above, without reloading
    server.stored = stored
    server.global_ids = np.arange(stored.size)
    rng = np.random.default_rng(0)
    times = []
    for query in queries:
        vector = rng.standard_normal(stored.faiss_index.d).astype(np.float32)
        vector /= np.linalg.norm(vector)
        started = time.perf_counter()
        server.candidates(query, vector, 100, "hybrid")
        times.append((time.perf_counter() - started) * 1000)
    out["candidates_p50_ms"] = statistics.median(times)

    vectors = stored.vectors()
    n, dim = vectors.shape
    nlist = max(1, min(int(4 * n**0.5), n // 39))
    pq = faiss.IndexIVFPQ(faiss.IndexFlatIP(dim), dim, nlist, 48, 8, faiss.METRIC_INNER_PRODUCT)
    sample = vectors[np.sort(rng.choice(n, min(n, max(nlist * 40, 256 * 40)), replace=False))]
    pq.train(sample)
    pq.add(vectors)
    out["ivf_flat_bytes_per_vector"] = out["faiss_mib"] * 2**20 / n
    out["ivf_pq_bytes_per_vector"] = len(faiss.serialize_index(pq)) / n
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    queries = [json.loads(line)["text"] for line in
               (require_scifact() / "queries.jsonl").read_text(encoding="utf-8").splitlines()[:50]]
    if args.child:
        print(json.dumps(measure(args.child, queries)))
        return
    corpus = SCRATCH / f"memory-corpus-{args.chunks}"
    make_corpus(corpus, args.chunks)
    index_dir = SCRATCH / "shard-cost-index"
    shutil.rmtree(index_dir, ignore_errors=True)
    started = time.perf_counter()
    subprocess.run([sys.executable, str(ROOT / "bench" / "index_memory.py"), "--child", str(corpus),
                    str(index_dir), "--stand-in"], check=True, capture_output=True)
    build_s = time.perf_counter() - started
    out = subprocess.run([sys.executable, __file__, "--child", str(index_dir)], check=True,
                         capture_output=True, text=True).stdout
    figures = json.loads(out.strip().splitlines()[-1])
    n = figures["chunks"]
    print(f"one shard of {n} chunks ({figures['faiss_type']}), built with the stand-in encoder in {build_s:.0f} s")
    print(f"  chunk texts   {figures['chunks_jsonl_mib']:7.1f} MiB on disk, open_stored (texts + FAISS) "
          f"+{figures['open_mib']:.0f} MiB RSS in {figures['open_s']:.1f} s")
    print(f"  FAISS         {figures['faiss_mib']:7.1f} MiB ({figures['ivf_flat_bytes_per_vector']:.0f} B/vector); "
          f"IVF-PQ 48x8: {figures['ivf_pq_bytes_per_vector']:.0f} B/vector")
    print(f"  BM25 (global) {figures['bm25_matrix_mib']:7.1f} MiB matrix, +{figures['bm25_mib']:.0f} MiB RSS; "
          f"tokenise {figures['tokenise_s']:.1f} s + build {figures['bm25_build_s']:.1f} s; "
          f"term statistics file {figures['terms_json_mib']:.1f} MiB")
    print(f"  query work in the shard (hybrid candidates, pool 100): p50 {figures['candidates_p50_ms']:.1f} ms")
    print(f"  per chunk: {(figures['open_mib'] + figures['bm25_mib']) * 1024 / n:.1f} KiB RSS serving")
    shutil.rmtree(index_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
