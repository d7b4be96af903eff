"""Peak memory of `qa index` at 100k chunks, and what it grows with.

    python bench/index_memory.py [--chunks 100000] [--small 10000] [--real 3000]

Each leg is a fresh child process running `qa.build_index` on a synthetic corpus of SciFact
abstracts (tiled, each copy made distinct), and reports its peak RSS (getrusage ru_maxrss).

* Embedding 100k real chunks takes ~25 min here, so the 100k and the small leg replace the
  model with a stand-in encoder (a seeded random unit vector per text; same shapes, no model).
  The model's own share is measured by a third pair of legs at --real chunks: the real default
  encoder vs the stand-in on the same corpus. Peak at 100k with the model = stand-in peak at
  100k + that difference (the model's memory does not grow with the corpus: batches are fixed).
* The baseline, measured in the same run, is the size of what the index must hold: the bytes
  of the committed generation on disk. The ratio peak / index bytes says how much working memory
  indexing needs on top of its own output; the per-chunk slope between the small and the large
  leg says it grows linearly, not worse.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

from _common import SCRATCH, require_scifact

ROOT = Path(__file__).resolve().parent.parent


def make_corpus(target: Path, chunks: int) -> int:
    """Files of SciFact abstracts until about ``chunks`` chunks (~2.7 per abstract); every copy
    of an abstract gets a distinct first line, so no two chunks share a text."""
    if target.is_dir() and (target / ".chunks").read_text() == str(chunks):
        return len(list(target.glob("*.txt")))
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    docs = [json.loads(line) for line in (require_scifact() / "corpus.jsonl").open(encoding="utf-8")]
    n_files = int(chunks / 2.7)
    for i in range(n_files):
        doc = docs[i % len(docs)]
        (target / f"doc-{i:06d}.txt").write_text(
            f"{doc['title']} (copy {i // len(docs)}, file {i})\n\n{doc['text']}\n", encoding="utf-8")
    (target / ".chunks").write_text(str(chunks))
    return n_files


def child(corpus: Path, index_dir: Path, stand_in: bool) -> None:
    sys.path.insert(0, str(ROOT / "src"))
    import numpy as np

    import qa

    if stand_in:
        class StandIn:
            kind = "stand-in"

            def __init__(self) -> None:
                self.spec = qa.model_spec()

            def encode(self, texts, progress=None):
                out = np.empty((len(texts), self.spec.dim), dtype=np.float32)
                for start in range(0, len(texts), 256):
                    batch = texts[start:start + 256]
                    rng = np.random.default_rng(len(batch[0]) + start)
                    block = rng.standard_normal((len(batch), self.spec.dim), dtype=np.float32)
                    out[start:start + len(batch)] = block / np.linalg.norm(block, axis=1, keepdims=True)
                    if progress:
                        progress(len(batch))
                return out

        report = qa.build_index(corpus, index_dir, rebuild=True, encoder=StandIn(), export=False)
    else:
        report = qa.build_index(corpus, index_dir, rebuild=True)
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    generation = index_dir / report.generation
    on_disk = sum(p.stat().st_size for p in generation.rglob("*") if p.is_file())
    print(json.dumps({"chunks": report.chunks, "peak_mib": peak_kib / 1024, "index_mib": on_disk / 2**20,
                      "seconds": report.seconds, "encoder": report.encoder}))


def leg(corpus: Path, stand_in: bool) -> dict[str, float]:
    index_dir = SCRATCH / "memory-index"
    shutil.rmtree(index_dir, ignore_errors=True)
    out = subprocess.run(
        [sys.executable, __file__, "--child", str(corpus), str(index_dir)] + (["--stand-in"] if stand_in else []),
        check=True, capture_output=True, text=True,
    ).stdout
    shutil.rmtree(index_dir, ignore_errors=True)
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--real", type=int, default=3_000)
    parser.add_argument("--child", nargs=2, type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--stand-in", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child, stand_in=args.stand_in)
        return

    started = time.perf_counter()
    results = {}
    for label, size, stand_in in (("large", args.chunks, True), ("small", args.small, True),
                                  ("real-model", args.real, False), ("real-stand-in", args.real, True)):
        corpus = SCRATCH / f"memory-corpus-{size}"
        make_corpus(corpus, size)
        results[label] = r = leg(corpus, stand_in)
        print(f"{label:<14} {r['chunks']:>7} chunks  peak RSS {r['peak_mib']:7.0f} MiB  index on disk "
              f"{r['index_mib']:6.0f} MiB  ratio {r['peak_mib'] / r['index_mib']:5.2f}  "
              f"({r['encoder']}, {r['seconds']:.0f} s)", flush=True)
    large, small = results["large"], results["small"]
    slope = (large["peak_mib"] - small["peak_mib"]) * 1024 / (large["chunks"] - small["chunks"])
    model = results["real-model"]["peak_mib"] - results["real-stand-in"]["peak_mib"]
    print(f"growth: {slope:.2f} KiB of peak RSS per chunk (index on disk: "
          f"{large['index_mib'] * 1024 / large['chunks']:.2f} KiB per chunk)")
    print(f"model share (real encoder minus stand-in at {results['real-model']['chunks']} chunks): {model:.0f} MiB")
    print(f"estimated peak at {large['chunks']} chunks with the real encoder: {large['peak_mib'] + model:.0f} MiB"
          f"  [{time.perf_counter() - started:.0f} s]")


if __name__ == "__main__":
    main()
