"""Rebuild qa's inference (NLI) model from ../shared/train/nli: pairs -> fine-tuned classifier ->
int8 ONNX + model card in src/qa/models/nli/.

    python training/nli_model.py [--steps N] [--seed 13] [--threads 1] [--shared ../shared]

Phases, each resumable (state under training/.work/nli-STEPS-SEED/, never shipped):
  train  SNLI dev + MultiNLI dev-matched pairs; 15% of the *premises* (with all their
         hypotheses) are held out, so no premise is seen on both sides of the split (SNLI has
         three hypotheses per premise: a pair-level split leaks). all-MiniLM-L6-v2, word
         embeddings frozen, ``[CLS] premise [SEP] hypothesis [SEP]``, mean-pooled 3-way head;
         bf16 autocast on the CPU; length buckets; a checkpoint (safetensors + JSON) every
         --checkpoint-every steps, so a killed run resumes where it stopped.
  export see ``export_nli_model.py``: ONNX fp32 and int8, held-out accuracy of both beside
         the majority-class and lexical baselines, the contradiction threshold, the card.
Never run by CI; CI tests the shipped artifact.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "training"))
HELD_OUT = 0.15
FILES = ("snli-dev.jsonl.gz", "mnli-dev-matched.jsonl.gz")


def read_pairs(shared: Path) -> list[dict]:
    """Every labelled pair, with its source file."""
    from qa.models.nli import LABELS

    out = []
    for name in FILES:
        with gzip.open(shared / "train" / "nli" / name, "rt", encoding="utf-8") as handle:
            for line in handle:
                row = json.loads(line)
                if row.get("label") in LABELS:
                    out.append({"premise": row["premise"], "hypothesis": row["hypothesis"],
                                "label": row["label"], "source": name.split("-")[0]})
    return out


def premise_key(premise: str) -> str:
    return " ".join(premise.lower().split())


def split(pairs: list[dict], seed: int) -> tuple[list[dict], list[dict]]:
    """(train, held out) by premise group, fixed by the seed: every pair of a held-out premise
    is held out."""
    groups = sorted({premise_key(p["premise"]) for p in pairs})
    random.Random(seed).shuffle(groups)
    held = set(groups[:round(len(groups) * HELD_OUT)])
    return ([p for p in pairs if premise_key(p["premise"]) not in held],
            [p for p in pairs if premise_key(p["premise"]) in held])


def make_model():
    import torch
    from transformers import BertModel

    from qa.embedding import model_spec

    class Classifier(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = BertModel.from_pretrained(str(model_spec().directory()), add_pooling_layer=False)
            self.bert.embeddings.word_embeddings.weight.requires_grad_(False)
            self.head = torch.nn.Linear(384, 3)

        def forward(self, inputs_embeds, attention_mask, token_type_ids):
            h = self.bert(inputs_embeds=inputs_embeds, attention_mask=attention_mask,
                          token_type_ids=token_type_ids).last_hidden_state
            # Mean pooling, as the sentence-transformer was pretrained to pool.
            m = attention_mask.unsqueeze(-1).to(h.dtype)
            pooled = (h * m).sum(1) / m.sum(1).clamp(min=1.0)
            return self.head(pooled).float()

    return Classifier()


def featurise(tok, pairs: list[dict]) -> list[tuple]:
    """(ids, type_ids, label index, 0): the 4-tuple ``answer_model.batches`` buckets by length."""
    from qa.models.nli import LABELS, encode_pair

    out = []
    for p in pairs:
        enc = encode_pair(tok, p["premise"], p["hypothesis"])
        out.append((enc.ids, enc.type_ids, LABELS.index(p["label"]), 0))
    return out


def tensors(batch):
    """The answer model's padded batch (its span columns hold the label here, and a 0)."""
    import answer_model

    ids, types, mask, labels, _ = answer_model.tensors(batch)
    return ids, types, mask, labels


def plan(features: list[tuple], steps: int, batch_size: int, seed: int) -> list[list]:
    """``steps`` length-bucketed batches: epoch after epoch, each reshuffled (deterministic, so a
    resumed run replays the same plan)."""
    import answer_model

    rng = random.Random(seed)
    out: list[list] = []
    while len(out) < steps:
        epoch = features[:]
        rng.shuffle(epoch)
        out.extend(answer_model.batches(epoch, batch_size, rng))
    return out[:steps]


def digest(pairs: list[dict]) -> str:
    text = "\n".join(f"{p['premise']}\t{p['hypothesis']}\t{p['label']}" for p in pairs)
    return hashlib.sha256(text.encode()).hexdigest()


def train(args, work: Path) -> None:
    import answer_model
    import torch

    from qa.embedding import model_spec
    from qa.models.reader import tokenizer

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    answer_model.WORK = work  # its checkpoint helpers write there
    pairs = read_pairs(Path(args.shared))
    train_pairs, held = split(pairs, args.seed)
    counts = {"pairs": len(pairs), "train_pairs": len(train_pairs), "held_out_pairs": len(held),
              "premises": len({premise_key(p["premise"]) for p in pairs}),
              "held_out_premises": len({premise_key(p["premise"]) for p in held}),
              "train_sha256": digest(train_pairs), "held_out_sha256": digest(held)}
    print(f"data: {counts}", flush=True)
    tok = tokenizer(model_spec().directory())
    features = featurise(tok, train_pairs)
    batches = plan(features, args.steps, args.batch_size, args.seed)
    work.mkdir(parents=True, exist_ok=True)
    (work / "data.json").write_text(json.dumps(counts))
    model = make_model()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.01)
    warmup = max(1, len(batches) // 10)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warmup, max(0.0, (len(batches) - s) / max(1, len(batches) - warmup))))
    done = answer_model.load_checkpoint(model, optimizer)
    for _ in range(done):
        schedule.step()
    model.train()
    embed = model.bert.embeddings.word_embeddings
    ce = torch.nn.CrossEntropyLoss()
    t0, seen, recent, right = time.time(), 0, [], 0
    for step in range(done, len(batches)):
        ids, types, mask, labels = tensors(batches[step])
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=not args.fp32):
            logits = model(embed(ids), mask, types)
        loss = ce(logits, labels)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
        seen += len(labels)
        right += int((logits.argmax(-1) == labels).sum())
        recent.append(float(loss))
        if (step + 1) % args.log_every == 0:
            rate = seen / (time.time() - t0)
            left = (len(batches) - step - 1) * args.batch_size / rate / 60
            print(f"step {step + 1}/{len(batches)} loss {sum(recent) / len(recent):.3f} "
                  f"train acc {right / seen:.3f} {rate:.1f} pairs/s, ~{left:.1f} min left", flush=True)
            recent = []
        if (step + 1) % args.checkpoint_every == 0 or step + 1 == len(batches):
            answer_model.save_checkpoint(model, optimizer, step + 1)
    (work / "trained.json").write_text(json.dumps({"steps": len(batches), "args": vars(args)}))
    print(f"training done in {time.time() - t0:.0f} s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("phase", nargs="?", default="all", choices=["all", "train", "export"])
    parser.add_argument("--shared", default=str(ROOT.parent / "shared"))
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=8e-5)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the machine is shared)")
    parser.add_argument("--checkpoint-every", type=int, default=100)
    parser.add_argument("--log-every", type=int, default=20)
    parser.add_argument("--fp32", action="store_true", help="no bf16 autocast")
    parser.add_argument("--artifact", default=str(ROOT / "src" / "qa" / "models" / "nli"), help="where export writes")
    parser.add_argument("--held-limit", type=int, default=0, help="export: smoke-test on the first N held-out pairs only")
    parser.add_argument("--work", default=None, help="checkpoint folder (default: training/.work/nli-STEPS-SEED)")
    args = parser.parse_args()
    work = Path(args.work) if args.work else ROOT / "training" / ".work" / f"nli-{args.steps}-{args.seed}"
    args.work = str(work)
    if args.phase in ("all", "train"):
        train(args, work)
    if args.phase in ("all", "export"):
        from export_nli_model import export  # noqa: PLC0415 - the export phase lives beside

        export(args, work)


if __name__ == "__main__":
    main()
