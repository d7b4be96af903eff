"""Encoder speed: the verified ONNX export (onnxruntime) vs sentence-transformers (torch).

    python bench/encoders.py [--texts 1500] [--rounds 3]

Both encode the same SciFact chunk texts (from the index `qa eval` builds), alternating
rounds so machine noise hits both; prints texts/s of each, the ratio, and the minimum cosine
between their vectors for the same texts.
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
    from qa.cli import _eval_cache
    from qa.embedding import OnnxEncoder, TorchEncoder

    index = qa.open_index(_eval_cache(require_scifact()) / "index")
    texts = [s.chunk.embedding_text() for s in index.stored.chunks[: args.texts]]
    torch_encoder = TorchEncoder()
    onnx_encoder = OnnxEncoder(index.stored.onnx_path)
    torch_encoder.encode(texts[:16])
    onnx_encoder.encode(texts[:16])
    rates: dict[str, list[float]] = {"torch": [], "onnx": []}
    vectors = {}
    for _ in range(args.rounds):
        for name, encoder in (("torch", torch_encoder), ("onnx", onnx_encoder)):
            started = time.perf_counter()
            vectors[name] = encoder.encode(texts)
            rates[name].append(len(texts) / (time.perf_counter() - started))
    cosine = float((vectors["torch"] * vectors["onnx"]).sum(axis=1).min())
    ratios = [o / t for o, t in zip(rates["onnx"], rates["torch"], strict=True)]
    print(f"{len(texts)} SciFact chunk texts, {args.rounds} alternating rounds")
    for name in ("torch", "onnx"):
        print(f"{name:<6} texts/s  median {statistics.median(rates[name]):7.1f}  "
              f"({', '.join(f'{r:.1f}' for r in rates[name])})")
    print(f"ratio onnx/torch  median {statistics.median(ratios):.2f}  (target >= 2)")
    print(f"min cosine onnx vs torch over all texts: {cosine:.6f}")
    assert np.isfinite(cosine)


if __name__ == "__main__":
    main()
