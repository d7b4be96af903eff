"""SIGKILL stress: `qa index` killed at random moments, N times (default 1000).

    python bench/stress_kill.py [--rounds 1000] [--seed 1]

Each round edits the corpus, starts the real indexer in a subprocess (ONNX encoder), kills it
at a random moment within its measured run time, then opens the committed index and checks it
answers exactly as the generation it names did. The same loop as
tests/integration/test_faults.py::test_sigkill_during_updates_never_breaks_the_index (50 rounds there).
A round takes about a second; 1000 rounds take about 20-30 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    from tests.test_faults import kill_loop

    import qa

    with tempfile.TemporaryDirectory() as scratch:
        corpus = Path(scratch) / "corpus"
        shutil.copytree(ROOT / "corpus", corpus)
        index_dir = Path(scratch) / "embeddings"
        qa.build_index(corpus, index_dir)  # with the ONNX export the loop indexes with
        started = time.perf_counter()
        outcomes = kill_loop(corpus, index_dir, rounds=args.rounds, seed=args.seed)
        seconds = time.perf_counter() - started
        final = qa.build_index(corpus, index_dir, encoder="onnx", export=False)
        leftovers = list(index_dir.glob(".tmp-*"))
    print(f"{args.rounds} rounds in {seconds:.0f} s: {outcomes}")
    print(f"after a clean run: {len(leftovers)} leftovers, {final.chunks} chunks; every kill left a loadable index that answered as its generation did")


if __name__ == "__main__":
    main()
