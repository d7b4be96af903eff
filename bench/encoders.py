"""Encoder speed: the verified ONNX export (onnxruntime, OpenVINO) vs sentence-transformers (torch).

    python bench/encoders.py [--texts 1500] [--rounds 3]

All encode the same SciFact chunk texts (from the index `qa eval` builds), alternating
rounds so machine noise hits all; prints texts/s of each, the ratio to torch (the baseline), and
the minimum cosine between each one's vectors and torch's for the same texts.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from _common import require_scifact

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=1500)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    import numpy as np

    import qa

    index = qa.open_index(qa.eval_cache_dir(require_scifact()) / "index")
    texts = [s.chunk.embedding_text() for s in index.stored.chunks[: args.texts]]
    encoders = {kind: qa.load_encoder(kind, index) for kind in ("torch", "onnx", "openvino")}
    for encoder in encoders.values():
        encoder.encode(texts[:16])
    rates: dict[str, list[float]] = {name: [] for name in encoders}
    vectors = {}
    for _ in range(args.rounds):
        for name, encoder in encoders.items():
            started = time.perf_counter()
            vectors[name] = encoder.encode(texts)
            rates[name].append(len(texts) / (time.perf_counter() - started))
    print(f"{len(texts)} SciFact chunk texts, {args.rounds} alternating rounds; baseline: torch")
    for name in encoders:
        ratios = [r / t for r, t in zip(rates[name], rates["torch"], strict=True)]
        cosine = float((vectors["torch"] * vectors[name]).sum(axis=1).min())
        assert np.isfinite(cosine)
        print(f"{name:<9} texts/s median {statistics.median(rates[name]):6.1f} "
              f"({', '.join(f'{r:.1f}' for r in rates[name])})  ratio to torch {statistics.median(ratios):.2f}"
              f"  min cosine to torch {cosine:.6f}")
    print("target: ratio >= 2")

if __name__ == "__main__":
    main()
