"""The sharded index on Ray vs the single index, same corpus, same run.

    python bench/cluster.py [--docs N] [--shards S] [--queries Q]

Indexes the first N SciFact documents (default 300) with the single-process build, then with a
sharded build on a loopback Ray cluster of 1 and of 2 worker nodes (one CPU each; the head
schedules nothing), and reports chunks/s of each. Every build is timed warm: the ONNX export and
each worker's encoder are made by an untimed first build, the timed one re-embeds everything
(``rebuild``); the single-process build is timed again after the clusters, to show the drift on a
shared machine. Then the query latency of the 2-node cluster's fan-out against the single index
(each mode, k=5, query embeddings cached: see ``_latency``), and what one shard costs: files on disk, load time and memory of its actor.

On a 2-core machine the cluster cannot be much faster than one process (both already use both
cores to embed): the figures that matter are the overheads.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import time
from pathlib import Path

from _common import SCRATCH, require_scifact


def _rss_mb() -> float:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    import os

    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _dir_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20


def _latency(index, queries: list[str], mode: str) -> list[float]:
    # An untimed pass first: it loads the encoder and BM25 and fills the query-embedding cache,
    # so the timed pass measures retrieval (and, for the cluster, the fan-out), not embedding the
    # query, which both do once on the driver with the same encoder.
    for query in queries:
        index.search(query, k=5, mode=mode)
    out = []
    for query in queries:
        started = time.perf_counter()
        index.search(query, k=5, mode=mode)
        out.append((time.perf_counter() - started) * 1000)
    return out


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=300, help="first N SciFact documents")
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--queries", type=int, default=50)
    args = parser.parse_args()

    import ray
    from ray.cluster_utils import Cluster

    import qa
    from qa.evaluation import materialize_beir_corpus

    scifact = require_scifact()
    corpus = SCRATCH / f"scifact-corpus-{args.docs}"
    materialize_beir_corpus(scifact, corpus, args.docs)
    queries = [json.loads(line)["text"] for line in (scifact / "queries.jsonl").read_text().splitlines()[: args.queries]]

    single_dir = SCRATCH / "cluster-bench-single"
    shutil.rmtree(single_dir, ignore_errors=True)
    qa.build_index(corpus, single_dir)  # untimed: makes the export
    report = qa.build_index(corpus, single_dir, rebuild=True)
    chunks = report.chunks
    rates = {"single process": chunks / report.seconds}
    print(f"corpus: {args.docs} SciFact documents, {chunks} chunks; {args.shards} shards")
    print(f"single process: {report.seconds:.1f} s, {rates['single process']:.1f} chunks/s ({report.encoder})")

    single = qa.open_index(single_dir)
    latency: dict[str, list[float]] = {}
    for mode in ("dense", "lexical", "hybrid"):
        latency[f"single {mode}"] = _latency(single, queries, mode)

    sharded_dir = SCRATCH / "cluster-bench-sharded"
    shard_figures: dict[str, float] = {}
    for nodes in (1, 2):
        cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False})
        for _ in range(nodes):
            cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        ray.init(address=cluster.address, log_to_driver=False)
        try:
            shutil.rmtree(sharded_dir, ignore_errors=True)
            started = time.perf_counter()
            qa.build_index(corpus, sharded_dir, cluster=cluster.address, shards=args.shards)
            cold = time.perf_counter() - started
            report = qa.build_index(corpus, sharded_dir, cluster=cluster.address, rebuild=True)
            assert report.chunks == chunks, (report.chunks, chunks)
            label = f"cluster, {nodes} worker node{'s' * (nodes > 1)}"
            rates[label] = chunks / report.seconds
            print(f"{label}: {report.seconds:.1f} s warm ({rates[label]:.1f} chunks/s, {report.encoder}); "
                  f"first build with export and worker start {cold:.1f} s")
            if nodes == 2:
                opened = qa.open_index(sharded_dir, cluster=cluster.address)
                for mode in ("dense", "lexical", "hybrid"):
                    latency[f"cluster {mode}"] = _latency(opened, queries, mode)
                opened.close()
        finally:
            ray.shutdown()
            cluster.shutdown()

    # The single-process build again: the machine is shared, and the drift between the two
    # single-process figures shows how far the ratios can be trusted.
    report = qa.build_index(corpus, single_dir, rebuild=True)
    rates["single process, again"] = chunks / report.seconds
    print(f"single process, again after the clusters: {report.seconds:.1f} s, "
          f"{rates['single process, again']:.1f} chunks/s")

    # One shard's actor, loaded in this process: what a node pays per shard.
    from qa.cluster.manifest import read_manifest
    from qa.cluster.serve import ShardServer

    manifest = read_manifest(sharded_dir)
    name = max(manifest["shards"]["chunks"], key=lambda s: manifest["shards"]["chunks"][s])
    generation = sharded_dir / "shards" / name / manifest["shards"]["generations"][name]
    rows = {p: r["row"] for p, r in manifest["files"].items() if f"{r['shard']:03d}" == name}
    before = _rss_mb()
    started = time.perf_counter()
    ShardServer(str(sharded_dir / "shards" / name), generation.name, manifest["model"]["name"], rows,
                str(sharded_dir), manifest["terms"])
    shard_figures = {
        "chunks": manifest["shards"]["chunks"][name],
        "load_s": time.perf_counter() - started,
        "rss_mb": _rss_mb() - before,
        "chunks_mb": (generation / "chunks.jsonl").stat().st_size / 2**20,
        "vectors_mb": (generation / "vectors.faiss").stat().st_size / 2**20,
        "bm25_mb": _dir_mb(generation / "lexical"),
    }

    print()
    print("indexing throughput (warm, chunks/s; ratio to the first single-process build)")
    base = rates["single process"]
    for label, rate in rates.items():
        print(f"  {label:<28}{rate:>8.1f}   x{rate / base:.2f}")
    print()
    print(f"query latency over {len(queries)} SciFact queries, k=5, ms (p50 / p95; ratio of p50s)")
    for mode in ("dense", "lexical", "hybrid"):
        one, many = latency[f"single {mode}"], latency[f"cluster {mode}"]
        print(f"  {mode:<8} single {statistics.median(one):6.1f} / {_pct(one, 0.95):6.1f}   "
              f"fan-out to {args.shards} shards {statistics.median(many):6.1f} / {_pct(many, 0.95):6.1f}   "
              f"x{statistics.median(many) / statistics.median(one):.1f}")
    print()
    print(f"largest shard {name}: {shard_figures['chunks']} chunks; chunks.jsonl {shard_figures['chunks_mb']:.2f} MB, "
          f"vectors.faiss {shard_figures['vectors_mb']:.2f} MB, BM25 {shard_figures['bm25_mb']:.2f} MB on disk; "
          f"actor load {shard_figures['load_s']:.2f} s, +{shard_figures['rss_mb']:.0f} MB RSS (first load includes imports)")


if __name__ == "__main__":
    main()
