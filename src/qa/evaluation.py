"""Measuring answers and retrieval.

* ``evaluate_questions``: a JSON-lines question set about a corpus (see ``questions/``).
* ``evaluate_beir``: a BEIR-format dataset (``corpus.jsonl``, ``queries.jsonl``,
  ``qrels/<split>.tsv``) with nDCG@10, Recall@10, Recall@100 and MRR@10 per retrieval mode.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qa.errors import QAError


@dataclass(frozen=True)
class QuestionResult:
    id: str
    question: str
    answerable: bool
    kind: str  # answerable | near (the corpus nearly says) | off-topic
    grounded: bool
    confidence: float
    contains_expected: bool
    evidence_first: bool
    answer: str


@dataclass(frozen=True)
class QuestionReport:
    results: tuple[QuestionResult, ...]

    def _answerable(self) -> list[QuestionResult]:
        return [r for r in self.results if r.answerable]

    def _unanswerable(self) -> list[QuestionResult]:
        return [r for r in self.results if not r.answerable]

    def metrics(self) -> dict[str, Any]:
        yes, no = self._answerable(), self._unanswerable()

        def share(items: list[QuestionResult], test: Callable[[QuestionResult], bool]) -> float:
            return round(sum(map(test, items)) / len(items), 4) if items else 0.0

        near = [r for r in no if r.kind == "near"]
        off_topic = [r for r in no if r.kind != "near"]
        return {
            "answerable": len(yes),
            "unanswerable": len(no),
            "near_domain": len(near),
            "off_topic": len(off_topic),
            "answer_contains_expected": share(yes, lambda r: r.contains_expected),
            "first_citation_is_evidence": share(yes, lambda r: r.evidence_first),
            "refusal_rate_unanswerable": share(no, lambda r: not r.grounded),
            "refusal_rate_near_domain": share(near, lambda r: not r.grounded),
            "refusal_rate_off_topic": share(off_topic, lambda r: not r.grounded),
            "false_refusal_rate": share(yes, lambda r: not r.grounded),
        }

    def summary_lines(self) -> list[str]:
        """The report ``qa eval-questions`` prints."""
        m = self.metrics()
        lines = [f"{m['answerable']} answerable, {m['unanswerable']} unanswerable questions",
                 f"answer contains expected      {m['answer_contains_expected']:.1%}",
                 f"first citation is evidence    {m['first_citation_is_evidence']:.1%}",
                 f"refused when unanswerable     {m['refusal_rate_unanswerable']:.1%}"]
        if m["near_domain"]:
            lines += [f"  near-domain ({m['near_domain']:>3})            {m['refusal_rate_near_domain']:.1%}",
                      f"  off-topic ({m['off_topic']:>3})              {m['refusal_rate_off_topic']:.1%}"]
        lines.append(f"false refusals (answerable)   {m['false_refusal_rate']:.1%}")
        yes = sorted(r.confidence for r in self._answerable())
        no = sorted(r.confidence for r in self._unanswerable())
        if yes and no:
            lines.append(f"confidence: answerable min {yes[0]:.3f}, unanswerable max {no[-1]:.3f}")
        return lines

    def sweep(self, thresholds: Iterable[float]) -> list[dict[str, float]]:
        """What refusal and false-refusal rates each threshold would give (calibration)."""
        yes, no = self._answerable(), self._unanswerable()
        rows = []
        for t in thresholds:
            rows.append({
                "threshold": round(t, 3),
                "refused_unanswerable": round(sum(r.confidence < t for r in no) / max(1, len(no)), 4),
                "false_refusals": round(sum(r.confidence < t for r in yes) / max(1, len(yes)), 4),
                # answered and right: the answer does not change with the threshold, only
                # whether it is given
                "answered_right": round(sum(r.confidence >= t and r.contains_expected for r in yes) / max(1, len(yes)), 4),
            })
        return rows


def read_questions(path: Path) -> list[dict[str, Any]]:
    records = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise QAError(f"cannot read question file {path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise QAError(f"question file {path} is not UTF-8 (byte {exc.start})") from exc
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            record["question"], record["answerable"]  # noqa: B018 - required keys
        except (json.JSONDecodeError, KeyError, TypeError, RecursionError) as exc:
            raise QAError(f"{path}:{number}: not a question record ({type(exc).__name__}: {exc})") from exc
        records.append(record)
    return records


def evaluate_questions(answer: Callable[[str], Any], records: Sequence[dict[str, Any]],
                       progress: Callable[[], None] | None = None) -> QuestionReport:
    """Ask every question with ``answer`` (question -> Answer) and score the answers."""
    results = []
    for i, record in enumerate(records):
        result = answer(record["question"])
        expected = [e.lower() for e in record.get("expected", [])]
        text = result.text.lower()
        evidence = record.get("evidence", "")
        first = result.citations[0].quote if result.citations else ""
        results.append(QuestionResult(
            id=str(record.get("id", i)),
            question=record["question"],
            answerable=bool(record["answerable"]),
            kind="answerable" if record["answerable"] else str(record.get("kind", "off-topic")),
            grounded=result.grounded,
            confidence=result.confidence,
            contains_expected=result.grounded and any(e in text for e in expected),
            evidence_first=bool(evidence) and evidence in first,
            answer=result.text,
        ))
        if progress:
            progress()
    return QuestionReport(tuple(results))


# ---------------------------------------------------------------------------------------------
# Ranking metrics as trec_eval and BEIR compute them: graded relevance with *linear* gain (a
# document of grade g adds g / log2(rank + 1)); grades of 0 or less count as not relevant.
# tests/unit/test_evaluation.py checks them against pytrec_eval.

def ndcg_at_k(ranked: Sequence[str], relevant: dict[str, int], k: int = 10) -> float:
    dcg = sum(max(0, relevant.get(doc, 0)) / math.log2(i + 2) for i, doc in enumerate(ranked[:k]))
    ideal = sorted((g for g in relevant.values() if g > 0), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def recall_at_k(ranked: Sequence[str], relevant: dict[str, int], k: int) -> float:
    wanted = {d for d, g in relevant.items() if g > 0}
    return len(wanted & set(ranked[:k])) / len(wanted) if wanted else 0.0


def mrr_at_k(ranked: Sequence[str], relevant: dict[str, int], k: int = 10) -> float:
    for i, doc in enumerate(ranked[:k]):
        if relevant.get(doc, 0) > 0:
            return 1.0 / (i + 1)
    return 0.0


def ranking_metrics(ranked: Sequence[str], relevant: dict[str, int]) -> dict[str, float]:
    """One query's nDCG@10, Recall@10, Recall@100 and MRR@10: what `qa eval` reports."""
    return {"ndcg@10": ndcg_at_k(ranked, relevant, 10), "recall@10": recall_at_k(ranked, relevant, 10),
            "recall@100": recall_at_k(ranked, relevant, 100), "mrr@10": mrr_at_k(ranked, relevant, 10)}


def mean_metrics(per_query: Sequence[dict[str, float]]) -> dict[str, float]:
    """Each metric averaged over the queries, to 4 decimals."""
    names = ("ndcg@10", "recall@10", "recall@100", "mrr@10")
    return {name: round(sum(m[name] for m in per_query) / max(1, len(per_query)), 4) for name in names}


# ---------------------------------------------------------------------------------------------
# BEIR datasets

def eval_cache_dir(dataset: Path) -> Path:
    """Where `qa eval` keeps a dataset's documents and index: ``~/.cache/qa/eval/<name>-<hash>``
    (``$XDG_CACHE_HOME`` if set), one folder per dataset path."""
    import hashlib
    import os

    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "qa" / "eval"
    tag = hashlib.sha256(str(dataset.resolve()).encode()).hexdigest()[:10]
    return base / f"{dataset.resolve().name}-{tag}"


def beir_doc_filename(doc_id: str) -> str:
    """A safe, reversible file name for a BEIR document id (percent-encoded, '/' included)."""
    import urllib.parse

    return urllib.parse.quote(doc_id, safe="") + ".txt"


def doc_id_from_path(path: str) -> str:
    import urllib.parse

    return urllib.parse.unquote(Path(path).name[: -len(".txt")])


def materialize_beir_corpus(dataset: Path, target: Path, limit: int | None = None) -> int:
    """Write each BEIR document as ``<id>.txt`` (title line, blank line, text) under ``target``
    so it goes through the normal loading and chunking pipeline. Existing identical files are
    left alone, so re-running reuses the index. Returns the number of documents."""
    target.mkdir(parents=True, exist_ok=True)
    count = 0
    with open(dataset / "corpus.jsonl", encoding="utf-8") as handle:
        for line in handle:
            if limit is not None and count >= limit:
                break
            record = json.loads(line)
            title = (record.get("title") or "").strip()
            body = (record.get("text") or "").strip()
            content = f"{title}\n\n{body}\n" if title else f"{body}\n"
            path = target / beir_doc_filename(str(record["_id"]))
            if not path.exists() or path.read_text(encoding="utf-8") != content:
                path.write_text(content, encoding="utf-8")
            count += 1
    return count


@dataclass(frozen=True)
class BeirReport:
    dataset: str
    split: str
    queries: int
    documents: int
    chunks: int
    metrics: dict[str, dict[str, float]]  # mode -> metric -> value
    seconds: float

    def lines(self) -> list[str]:
        """The table ``qa eval`` prints."""
        out = [f"{self.dataset} ({self.split}): {self.queries} queries, {self.documents} documents, {self.chunks} chunks",
               f"{'mode':<10}{'nDCG@10':>10}{'R@10':>10}{'R@100':>10}{'MRR@10':>10}"]
        return out + [f"{mode:<10}{m['ndcg@10']:>10.4f}{m['recall@10']:>10.4f}{m['recall@100']:>10.4f}{m['mrr@10']:>10.4f}"
                      for mode, m in self.metrics.items()]

    def to_dict(self) -> dict[str, Any]:
        return {"dataset": self.dataset, "split": self.split, "queries": self.queries,
                "documents": self.documents, "chunks": self.chunks, "metrics": self.metrics,
                "seconds": round(self.seconds, 1)}


def read_beir(dataset: Path, split: str) -> tuple[dict[str, str], dict[str, dict[str, int]]]:
    """Queries (id -> text; the ``metadata`` field is ignored) and qrels of ``split``."""
    qrels_path = dataset / "qrels" / f"{split}.tsv"
    if not (dataset / "corpus.jsonl").is_file() or not qrels_path.is_file():
        raise QAError(f"{dataset} is not a BEIR dataset with a {split} split "
                      f"(needs corpus.jsonl, queries.jsonl, qrels/{split}.tsv)")
    qrels: dict[str, dict[str, int]] = {}
    with open(qrels_path, encoding="utf-8") as handle:
        for number, line in enumerate(handle):
            parts = line.rstrip("\n").split("\t")
            if number == 0 and not parts[-1].lstrip("-").isdigit():
                continue  # header
            query_id, doc_id, grade = parts[0], parts[1], int(parts[2])
            qrels.setdefault(query_id, {})[doc_id] = grade
    queries: dict[str, str] = {}
    with open(dataset / "queries.jsonl", encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            if str(record["_id"]) in qrels:
                queries[str(record["_id"])] = record["text"]
    return queries, qrels


def rank_documents(scored_rows: Sequence[Any], row_doc: Sequence[str], limit: int = 100) -> list[str]:
    """Documents in order of their best chunk (a document's score is its best chunk's)."""
    ranked: list[str] = []
    seen: set[str] = set()
    for scored in scored_rows:  # already best first
        doc = row_doc[scored.row]
        if doc not in seen:
            seen.add(doc)
            ranked.append(doc)
            if len(ranked) == limit:
                break
    return ranked


def evaluate_beir(index: Any, queries: dict[str, str], qrels: dict[str, dict[str, int]],
                  modes: Sequence[str] = ("dense", "lexical", "hybrid"), depth: int = 400,
                  progress: Callable[[int], None] | None = None) -> dict[str, dict[str, float]]:
    """nDCG@10, Recall@10, Recall@100 and MRR@10 per mode, averaged over ``queries``."""
    retriever = index.retriever
    row_doc = [doc_id_from_path(s.chunk.path) for s in index.stored.chunks]
    ids = list(queries)
    vectors = retriever.embed([queries[q] for q in ids])
    per_query: dict[str, list[dict[str, float]]] = {mode: [] for mode in modes}
    for i, query_id in enumerate(ids):
        for mode in modes:
            scored = retriever.rank(queries[query_id], depth=depth, mode=mode, vector=vectors[i])
            per_query[mode].append(ranking_metrics(rank_documents(scored, row_doc), qrels[query_id]))
        if progress:
            progress(1)
    return {mode: mean_metrics(scores) for mode, scores in per_query.items()}
