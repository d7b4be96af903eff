"""The answer model on held-out SQuAD 2.0 articles, beside the cosine baseline, in one run.

    python bench/answer_quality.py [--skip-paragraphs] [--limit N] [--json FILE] [--speed-only] [--speed-against DIR]

1. Paragraph level (the question against its own paragraph): answer-sentence accuracy and ROC AUC
   answerable vs unanswerable for the shipped model and for bi-encoder cosine (the sentence with
   the highest cosine; its cosine as the answerability score), span exact match and F1.
2. End to end through ``qa.ask``: the held-out articles as a corpus (one file per article),
   every question asked; gold answer in the answer for answerable questions, refusals for
   unanswerable ones at the shipped threshold, and the trade-off as the threshold moves.
3. Speed: a warm ``qa.ask`` on the shipped corpus against a warm ``Index.search`` (the retrieval
   it builds on) in the same run.
The held-out articles are the ones the model card names (split by article in training).
"""

from __future__ import annotations

import argparse
import gzip
import json
import statistics
import sys
import time
from pathlib import Path

from _common import ROOT, SCRATCH

sys.path.insert(0, str(ROOT / "training"))
SHARED = ROOT.parent / "shared"


def validation_articles() -> list[dict]:
    from qa.models.reader import ARTIFACT_DIR

    held = set(json.loads((ARTIFACT_DIR / "card.json").read_text())["data"]["validation"])
    with gzip.open(SHARED / "train" / "squad20-dev-part.json.gz", "rt", encoding="utf-8") as handle:
        return [a for a in json.load(handle)["data"] if a["title"] in held]


def write_corpus(articles: list[dict], target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for article in articles:
        title = article["title"].replace("_", " ")
        body = "\n\n".join(p["context"] for p in article["paragraphs"])
        (target / f"{article['title']}.txt").write_text(f"{title}\n\n{body}\n", encoding="utf-8")


def end_to_end(articles: list[dict], limit: int | None = None) -> dict:
    from export_answer_model import normalise

    import qa

    corpus = SCRATCH / "squad-validation" / "corpus"
    index_dir = SCRATCH / "squad-validation" / "index"
    write_corpus(articles, corpus)
    qa.build_index(corpus, index_dir)
    index = qa.open_index(index_dir)
    rows = []
    questions = [(qa_, a) for a in articles for p in a["paragraphs"] for qa_ in p["qas"]]
    if limit:
        questions = questions[::max(1, len(questions) // limit)]
    threshold = qa.answer_model().card.threshold
    for record, _ in questions:
        # threshold 0: the answer it would give, so the curve can be traced for every threshold
        answer = index.answer(record["question"], threshold=0.0)
        gold = [normalise(g["text"]) for g in record["answers"]]
        text = normalise(answer.text)
        rows.append({"answerable": not record["is_impossible"], "grounded": answer.confidence >= threshold,
                     "confidence": answer.confidence,
                     "right": bool(gold) and any(g and g in text for g in gold)})
    return summarise(rows, threshold)


def summarise(rows: list[dict], threshold: float) -> dict:
    yes = [r for r in rows if r["answerable"]]
    no = [r for r in rows if not r["answerable"]]
    curve = []
    for t in [i / 20 for i in range(21)]:
        curve.append({"threshold": t,
                      "answered_right": sum(r["confidence"] >= t and r["right"] for r in yes) / len(yes),
                      "refused_unanswerable": sum(r["confidence"] < t for r in no) / len(no)})
    return {"questions": len(rows), "answerable": len(yes), "unanswerable": len(no), "threshold": threshold,
            "answered_right": sum(r["grounded"] and r["right"] for r in yes) / len(yes),
            "refused_unanswerable": sum(not r["grounded"] for r in no) / len(no),
            "false_refusals": sum(not r["grounded"] for r in yes) / len(yes),
            "curve": curve, "rows": rows}


REFUSED_AT_LEAST = 0.5  # the product's bar: refuse at least half of what the documents don't answer


def choose_threshold(rows: list[dict], refused_at_least: float = REFUSED_AT_LEAST) -> float:
    """The operating point: the lowest threshold (so the most answers given) at which at least
    ``refused_at_least`` of the unanswerable validation questions are refused."""
    unanswerable = [r["confidence"] for r in rows if not r["answerable"]]
    for step in range(0, 101):
        t = step / 100
        if sum(c < t for c in unanswerable) >= refused_at_least * len(unanswerable):
            return t
    return 1.0


def speed(rounds: int = 30, against: Path | None = None) -> dict:
    """Warm ``Index.answer`` against warm ``Index.search``, alternating per question so the
    machine's noise falls on both; with ``against`` (an exported answer model's folder), also the
    answer with that model in place of the shipped one, alternating too."""
    import qa
    import qa.api
    from qa.models.reader import Reader

    index = qa.open_index(ROOT / "embeddings")
    questions = [json.loads(line)["question"] for line in (ROOT / "questions" / "shipped-corpus.jsonl").read_text().splitlines()[:rounds]]
    readers = {"ask": qa.answer_model()}
    if against is not None:
        readers["against"] = Reader(against)
    shipped = qa.api.answer_model
    times: dict[str, list[float]] = {"search": [], **{name: [] for name in readers}}
    try:
        for reader in readers.values():  # warm: models loaded, caches filled
            qa.api.answer_model = lambda reader=reader: reader
            index.answer(questions[0])
        for q in questions:
            t = time.perf_counter()
            index.search(q)
            times["search"].append(time.perf_counter() - t)
            for name, reader in readers.items():
                qa.api.answer_model = lambda reader=reader: reader
                t = time.perf_counter()
                index.answer(q)
                times[name].append(time.perf_counter() - t)
    finally:
        qa.api.answer_model = shipped
    out = {f"{name}_p50_s": statistics.median(values) for name, values in times.items()}
    out["ask_p95_s"] = sorted(times["ask"])[int(0.95 * (len(times["ask"]) - 1))]
    out["ratio"] = out["ask_p50_s"] / out["search_p50_s"]
    if against is not None:
        out["ratio_to_against"] = out["ask_p50_s"] / out["against_p50_s"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-paragraphs", action="store_true")
    parser.add_argument("--limit", type=int, default=None, help="ask only about N questions end to end")
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--speed-only", action="store_true", help="only the speed part")
    parser.add_argument("--speed-against", type=Path, default=None, metavar="DIR",
                        help="also time answers with the answer model exported in DIR (e.g. the one shipped before)")
    args = parser.parse_args()
    if args.speed_only:
        print_speed(speed(against=args.speed_against))
        return
    articles = validation_articles()
    out: dict = {"articles": [a["title"] for a in articles]}
    if not args.skip_paragraphs:
        from export_answer_model import validate
        from sentence_transformers import SentenceTransformer

        import qa
        from qa.embedding import model_spec

        st = SentenceTransformer(str(model_spec().directory()), device="cpu")
        figures = validate(qa.answer_model(), articles,
                           lambda texts: st.encode(texts, batch_size=64, normalize_embeddings=True))
        figures.pop("rows")
        out["paragraph_level"] = figures
        m, c = figures["model"], figures["cosine"]
        print(f"paragraph level, {figures['questions']} questions ({figures['answerable']} answerable):")
        print(f"  answer-sentence accuracy  model {m['sentence_accuracy']:.3f}  cosine {c['sentence_accuracy']:.3f}")
        print(f"  ROC AUC answerable        model {m['auc']:.3f}  cosine {c['auc']:.3f}")
        print(f"  span exact match {m['span_exact_match']:.3f}  F1 {m['span_f1']:.3f}")
    e2e = end_to_end(articles, args.limit)
    out["end_to_end"] = e2e
    print(f"end to end through qa.ask, {e2e['questions']} questions, threshold {e2e['threshold']:.2f}:")
    print(f"  answerable: gold answer in the answer {e2e['answered_right']:.3f} (false refusals {e2e['false_refusals']:.3f})")
    print(f"  unanswerable refused {e2e['refused_unanswerable']:.3f}")
    print("  threshold  answered-right  refused-unanswerable")
    for row in e2e["curve"][::2]:
        print(f"  {row['threshold']:.2f}       {row['answered_right']:.3f}           {row['refused_unanswerable']:.3f}")
    out["speed"] = speed(against=args.speed_against)
    print_speed(out["speed"])
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))


def print_speed(s: dict) -> None:
    print(f"warm answer p50 {s['ask_p50_s'] * 1000:.0f} ms (p95 {s['ask_p95_s'] * 1000:.0f} ms), "
          f"search p50 {s['search_p50_s'] * 1000:.0f} ms: ratio {s['ratio']:.1f}")
    if "against_p50_s" in s:
        print(f"  with the other answer model: p50 {s['against_p50_s'] * 1000:.0f} ms; "
              f"shipped / other {s['ratio_to_against']:.2f}")


if __name__ == "__main__":
    main()
