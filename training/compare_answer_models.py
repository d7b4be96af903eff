"""Held-out figures for several answer models and for their ensembles, to choose what to ship.

    python training/compare_answer_models.py NAME=SOURCE ... [--ensembles "a+b;a+b+c"] [--cache DIR]

SOURCE is an exported artifact folder (card.json + ONNX, run as exported) or a checkpoint folder
(``checkpoint.safetensors``, run in torch fp32). Each model reads every question of the held-out
SQuAD 2.0 articles once (``export_answer_model.validate``, the same figures the export reports);
its raw logits per window are cached, so an ensemble (the mean of its members' start, end and
answer logits, as the export's merged graph computes) costs no model run. The cosine baseline is
not computed here: the export reports it beside the shipped model.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import types
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from answer_model import load_checkpoint, make_model, read_squad, split_articles, tensors  # noqa: E402
from export_answer_model import validate  # noqa: E402

from qa.embedding import model_spec  # noqa: E402
from qa.models.reader import Reader, tokenizer  # noqa: E402

Logits = dict[tuple[int, ...], tuple[np.ndarray, np.ndarray, float]]


class LogitReader(Reader):
    """A Reader whose network is ``run_windows``: cached logits, a torch model or an ONNX session;
    uncalibrated (probability of the raw logit), as the export validates."""

    def __init__(self, run_windows) -> None:
        self.tok = tokenizer(model_spec().directory())
        self.card = types.SimpleNamespace(bias=0.0, features=["logit"], weights=[1.0])
        self.run_windows = run_windows
        self.seen: Logits = {}

    def run(self, windows):
        start, end, answer = self.run_windows(windows)
        for row, w in enumerate(windows):
            n = len(w.ids)
            self.seen[w.ids] = (start[row, :n].copy(), end[row, :n].copy(), float(answer[row]))
        return start, end, answer


def mean_of(members: list[Logits]):
    def run(windows):
        width = max(len(w.ids) for w in windows)
        start = np.full((len(windows), width), -1e4, dtype=np.float32)
        end = start.copy()
        answer = np.zeros(len(windows), dtype=np.float32)
        for row, w in enumerate(windows):
            parts = [m[w.ids] for m in members]
            start[row, :len(w.ids)] = np.mean([p[0] for p in parts], axis=0)
            end[row, :len(w.ids)] = np.mean([p[1] for p in parts], axis=0)
            answer[row] = np.mean([p[2] for p in parts])
        return start, end, answer
    return run


def torch_model(folder: Path):
    import torch

    model = make_model()
    load_checkpoint(model, None, folder)
    model.eval()
    embed = model.bert.embeddings.word_embeddings

    def run(windows):
        ids, type_ids, mask, _, _ = tensors([(w.ids, w.type_ids, 0, 0) for w in windows])
        with torch.no_grad():
            return tuple(t.numpy() for t in model(embed(ids), mask, type_ids))
    return run


def record(name: str, source: Path, validation: list[dict], cache: Path) -> tuple[Logits, dict]:
    """The model's logits on every held-out window (from the cache when it has them) and its figures."""
    meta, arrays = cache / f"{name}.json", cache / f"{name}.npz"
    if meta.is_file() and arrays.is_file() and json.loads(meta.read_text())["source"] == str(source.resolve()):
        keys = json.loads(meta.read_text())
        z = np.load(arrays)
        logits = {tuple(k): (z[f"s{i}"], z[f"e{i}"], a) for i, (k, a) in enumerate(zip(keys["keys"], keys["a"], strict=True))}
        return logits, validate(LogitReader(mean_of([logits])), validation, dummy_cosine)
    run = torch_model(source) if (source / "checkpoint.json").is_file() else Reader(source).run
    reader = LogitReader(run)
    t = time.time()
    figures = validate(reader, validation, dummy_cosine)
    print(f"{name}: read in {time.time() - t:.0f} s", flush=True)
    keys = list(reader.seen)
    np.savez(arrays, **{f"s{i}": reader.seen[k][0] for i, k in enumerate(keys)},
             **{f"e{i}": reader.seen[k][1] for i, k in enumerate(keys)})
    meta.write_text(json.dumps({"source": str(source.resolve()), "keys": [list(k) for k in keys],
                                "a": [reader.seen[k][2] for k in keys]}))
    return reader.seen, figures


def dummy_cosine(texts: list[str]) -> np.ndarray:
    return np.ones((len(texts), 1), dtype=np.float32)  # the baseline is the export's job


def report(name: str, figures: dict) -> None:
    m = figures["model"]
    print(f"{name:32} sentence accuracy {m['sentence_accuracy']:.3f}  AUC {m['auc']:.3f}  "
          f"span EM {m['span_exact_match']:.3f}  F1 {m['span_f1']:.3f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="+", metavar="NAME=SOURCE")
    parser.add_argument("--ensembles", default="", help="';'-separated, each '+'-joined names")
    parser.add_argument("--cache", type=Path, default=ROOT / "training" / ".work" / "compare")
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared")
    parser.add_argument("--seed", type=int, default=13, help="the training seed, which fixes the held-out articles")
    args = parser.parse_args()
    _, validation = split_articles(read_squad(args.shared / "train" / "squad20-dev-part.json.gz"), args.seed)
    args.cache.mkdir(parents=True, exist_ok=True)
    logits = {}
    for spec in args.models:
        name, _, source = spec.partition("=")
        logits[name], figures = record(name, Path(source), validation, args.cache)
        report(name, figures)
    for ensemble in filter(None, args.ensembles.split(";")):
        names = ensemble.split("+")
        report(ensemble, validate(LogitReader(mean_of([logits[n] for n in names])), validation, dummy_cosine))


if __name__ == "__main__":
    main()
