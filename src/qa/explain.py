"""Why an answer is what it is (``qa ask --explain``): how each passage was retrieved, what the
answer model made of each candidate sentence, which were cited and why, and for a refusal how
far the best evidence fell short of the threshold. Pure data, built from what retrieval and
answering already computed: explaining never re-runs a model."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from qa.answering import Decision
from qa.lexical import query_tokens as lexical_query_tokens
from qa.types import Hit


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 4)


@dataclass(frozen=True)
class PassageTrace:
    rank: int  # fused rank: the order the answer model read the passages in
    path: str
    start_line: int
    end_line: int
    fused_score: float
    dense_score: float | None  # cosine of question and passage (None in lexical mode)
    bm25_score: float | None  # None in dense mode
    matched_terms: tuple[str, ...]  # the query's stemmed terms found in the passage (BM25's view)

    def to_dict(self) -> dict[str, Any]:
        return {"rank": self.rank, "path": self.path, "start_line": self.start_line,
                "end_line": self.end_line, "fused_score": _r(self.fused_score),
                "dense_score": _r(self.dense_score), "bm25_score": _r(self.bm25_score),
                "matched_terms": list(self.matched_terms)}


@dataclass(frozen=True)
class CandidateTrace:
    passage_rank: int
    path: str
    start_char: int
    end_char: int
    sentence: str
    probability: float  # calibrated P(the passage answers)
    logit: float | None  # the model's raw answer logit
    span: dict[str, Any]  # the answer words: text, start_char, end_char (in the file), score
    citation: int | None  # the citation it became, None when left out
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"passage_rank": self.passage_rank, "path": self.path, "start_char": self.start_char,
                "end_char": self.end_char, "sentence": self.sentence,
                "probability": _r(self.probability), "logit": _r(self.logit),
                "span": self.span, "chosen": self.citation is not None,
                "citation": self.citation, "reason": self.reason}


@dataclass(frozen=True)
class Explanation:
    search_query: str
    threshold: float
    conflict_bar: float
    passages: tuple[PassageTrace, ...]
    candidates: tuple[CandidateTrace, ...]
    decision: str  # one line: answered (and on what) or refused (and by how much)

    def to_dict(self) -> dict[str, Any]:
        return {"search_query": self.search_query, "threshold": _r(self.threshold),
                "conflict_bar": _r(self.conflict_bar), "decision": self.decision,
                "passages": [p.to_dict() for p in self.passages],
                "candidates": [c.to_dict() for c in self.candidates]}

    def lines(self) -> list[str]:
        """The explanation for people, one fact per line."""
        out = [f"Why: {self.decision}", "", "Retrieved passages (fused rank, dense, BM25, matched terms):"]
        for p in self.passages:
            dense = "-" if p.dense_score is None else f"{p.dense_score:.3f}"
            bm25 = "-" if p.bm25_score is None else f"{p.bm25_score:.3f}"
            terms = ", ".join(p.matched_terms) or "none"
            out.append(f"  {p.rank}. {p.path}:{p.start_line}-{p.end_line}  fused {p.fused_score:.3f}  "
                       f"dense {dense}  bm25 {bm25}  terms: {terms}")
        out += ["", f"Candidate sentences (threshold {self.threshold:.3f}, conflict bar {self.conflict_bar:.3f}):"]
        if not self.candidates:
            out.append("  none: no passage holds a quotable sentence with answer words")
        for c in self.candidates:
            mark = f"[{c.citation}]" if c.citation is not None else "  - "
            logit = "-" if c.logit is None else f"{c.logit:.3f}"
            out.append(f"  {mark} p={c.probability:.3f} logit={logit} span \u201c{c.span['text']}\u201d "
                       f"(passage {c.passage_rank}, {c.path}): {c.reason}")
        return out


def _matched(query_terms: list[str], hit: Hit) -> tuple[str, ...]:
    # The lexical index holds the passage with its title and headings (Chunk.embedding_text).
    present = set(lexical_query_tokens(" ".join((hit.title, *hit.heading_path, hit.text))))
    return tuple(t for t in dict.fromkeys(query_terms) if t in present)


def explain(search_query: str, hits: list[Hit], decision: Decision) -> Explanation:
    """The explanation of ``decision``, reached on ``hits`` retrieved for ``search_query``."""
    terms = lexical_query_tokens(search_query)
    passages = tuple(PassageTrace(h.rank, h.path, h.start_line, h.end_line, h.score, h.dense_score,
                                  h.lexical_score, _matched(terms, h)) for h in hits)
    traces = []
    for c, n, why in zip(decision.candidates, decision.citation_of, decision.reasons, strict=True):
        offset = c.span_start - c.hit.start_char
        span = {"text": c.hit.text[offset:offset + c.span_end - c.span_start], "start_char": c.span_start,
                "end_char": c.span_end, "score": round(c.span_score, 4)}
        traces.append(CandidateTrace(c.hit.rank, c.hit.path, c.start, c.end, c.text, c.probability,
                                     c.reading.logit if c.reading else None, span, n, why))
    answer = decision.answer
    if answer.grounded:
        verdict = (f"answered from [1] with probability {answer.confidence:.4f} "
                   f"(threshold {decision.threshold:.4f}); {len(answer.citations)} sentence(s) cited")
        if answer.conflicts:
            verdict += f"; the sources disagree ({', '.join(f'[{n}]' for n in answer.conflicts[0].claims)})"
    elif decision.candidates:
        best = decision.candidates[0]
        verdict = (f"refused: the best evidence (passage {best.hit.rank}, {best.hit.path}) has probability "
                   f"{best.probability:.4f}, below the threshold {decision.threshold:.4f} by "
                   f"{decision.threshold - best.probability:.4f}")
    else:
        verdict = "refused: no retrieved passage holds a quotable sentence with answer words"
    return Explanation(search_query, decision.threshold, decision.conflict_bar, passages, tuple(traces), verdict)
