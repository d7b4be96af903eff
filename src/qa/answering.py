"""Question + retrieved passages -> a short extractive answer whose every sentence is cited, or
an honest "the documents don't say" with the closest passages.

Each sentence of the top passages is scored against the question by
* meaning: cosine similarity of the sentence and question embeddings (the same model);
* lexical evidence: the IDF-weighted share of the question's key terms that the sentence (or
  its section heading and title) contains; a key term absent from the whole corpus counts fully
  against it, which is what makes "What is the capital of Australia?" a refusal;
* answer type: a "when" question wants a date or year, "how many" a number, "who" a name;
* the passage: its retrieval score relative to the best passage's.
The best sentence's score is the answer's confidence; below ``REFUSAL_THRESHOLD`` (calibrated on
``questions/shipped-corpus.jsonl``, see README) the answer is a refusal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from qa.chunking import text_units
from qa.lexical import query_tokens as lexical_query_tokens
from qa.types import Answer, Citation, Hit

if TYPE_CHECKING:
    from qa.retrieval import Retriever

REFUSAL_THRESHOLD = 0.46  # midpoint of the gap seen in calibration (README "Answer quality")
MAX_SENTENCES = 3
MEANING_WEIGHT, LEXICAL_WEIGHT, TYPE_WEIGHT, PASSAGE_WEIGHT = 0.40, 0.40, 0.10, 0.10

_MONTHS = r"(?:January|February|March|April|May|June|July|August|September|October|November|December)"
_DATE = re.compile(rf"\b(?:\d{{1,2}}\s+{_MONTHS}(?:\s+\d{{4}})?|{_MONTHS}\s+\d{{1,2}}(?:,\s*\d{{4}})?|{_MONTHS}\s+\d{{4}}|(?:1[5-9]|20)\d\d(?:s)?|\d{{1,2}}/\d{{1,2}}/\d{{2,4}})\b")
_NUMBER = re.compile(r"\b\d[\d,.]*\b|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|hundred|thousand|million)\b", re.I)
_NAME = re.compile(r"\b[A-Z][a-z]+(?:\s+[A-Z][a-z]+)+\b")
_PLACE = re.compile(rf"\b(?:in|at|to|from)\s+(?:the\s+)?[A-Z][a-z]+|\b{_MONTHS}\b")


def answer_type(question: str) -> re.Pattern[str] | None:
    """What kind of string would answer the question, if the question says."""
    q = question.lower()
    if re.search(r"\bhow (many|much|old|long)\b|\bwhat (number|percentage|share)\b", q):
        return _NUMBER
    if re.search(r"\bwhen\b|\bwhat (year|date|month|day)\b|\bwhich (year|date|month)\b", q):
        return _DATE
    if re.search(r"^\s*who\b|\bwhich (person|leader|man|woman)\b", q):
        return _NAME
    if re.search(r"^\s*where\b", q):
        return _PLACE
    return None


@dataclass(frozen=True)
class _Candidate:
    hit: Hit
    start: int  # char offsets in the document
    end: int
    text: str
    score: float
    meaning: float
    lexical: float


class TermWeights:
    """IDF of stemmed terms over the index's chunks, read from the BM25 index."""

    def __init__(self, retriever: Retriever) -> None:
        self.idf = retriever.stored.lexical().idf


def key_terms(question: str) -> list[str]:
    """Stemmed content terms of a question (stopwords and question words removed)."""
    return [t for t in dict.fromkeys(lexical_query_tokens(question)) if t not in _QUESTION_WORDS]


_QUESTION_WORDS = {"what", "when", "where", "who", "whom", "which", "why", "how", "mani", "much",
                   "did", "doe", "do", "wa", "is", "ar", "were", "name", "tell", "say", "accord",
                   "mean", "meant", "defin", "explain", "describ", "document", "corpus", "text"}
_PRONOUN = re.compile(r"\b(he|him|his|she|her|they|them|their|it|its)\b", re.I)
_FOCUS = re.compile(r"\b(?:which|what)\s+(\w+)", re.I)


def focus_term(question: str) -> str | None:
    """The noun a "which X" / "what X" question asks for: it weighs triple, since the answer
    must name an X."""
    match = _FOCUS.search(question)
    if not match:
        return None
    tokens = lexical_query_tokens(match.group(1))
    if not tokens or tokens[0] in _QUESTION_WORDS or tokens[0] in _TYPE_NOUNS:
        return None  # "which year" is an answer type (a date), not a term to look for
    return tokens[0]


_TYPE_NOUNS = {"year", "date", "month", "day", "time", "number", "percentag", "amount"}


def _candidates(question: str, hits: list[Hit], retriever: Retriever, weights: TermWeights) -> list[_Candidate]:
    terms = key_terms(question)
    wanted = answer_type(question)
    spans: list[tuple[Hit, int, int, str]] = []
    before: dict[int, set[str]] = {}  # chunk id -> terms of the sentence just before the chunk
    chunks = retriever.stored.chunks
    for hit in hits:
        previous = chunks[hit.chunk_id - 1].chunk if hit.chunk_id > 0 else None
        if previous is not None and previous.path == hit.path and previous.start_char < hit.start_char:
            units = [u for u in text_units(previous.text) if previous.start_char + u[1] <= hit.start_char]
            if units:
                before[hit.chunk_id] = set(lexical_query_tokens(previous.text[slice(*units[-1])]))
        for s, e in text_units(hit.text):
            text = hit.text[s:e]
            lead = len(text) - len(text.lstrip())
            text = text.strip()
            if len(text.split()) < 4:  # headings and fragments answer nothing
                continue
            spans.append((hit, hit.start_char + s + lead, hit.start_char + s + lead + len(text), text))
    if not spans:
        return []
    vectors = retriever.embed_cached([question] + [t for *_, t in spans])
    question_vector, sentence_vectors = vectors[0], vectors[1:]
    cosines = sentence_vectors @ question_vector
    context_terms = {h.chunk_id: set(lexical_query_tokens(" ".join((h.title, *h.heading_path)))) for h in hits}
    sentence_terms = [set(lexical_query_tokens(t)) for *_, t in spans]
    focus = focus_term(question)
    best_passage = max(h.score for h in hits)
    weight = {t: weights.idf(t) * (3.0 if t == focus else 1.0) for t in terms}
    total = sum(weight.values()) or 1.0
    candidates = []
    for i, ((hit, start, end, text), cosine, own) in enumerate(zip(spans, cosines, sentence_terms, strict=True)):
        # Terms only in the heading or title count half, and so do the previous sentence's terms
        # when this one refers back to them by pronoun ("In 1984 he led ..."): cheap coreference.
        inherited = set(context_terms[hit.chunk_id])
        if _PRONOUN.search(text):
            if i and spans[i - 1][0] is hit:
                inherited |= sentence_terms[i - 1]
            else:
                inherited |= before.get(hit.chunk_id, set())
        covered = sum(w * (1.0 if t in own else 0.5) for t, w in weight.items() if t in own | inherited)
        lexical = covered / total
        typed = 1.0 if wanted is None else (1.0 if wanted.search(text) else 0.0)
        # The passage's own retrieval score, relative to the best passage: evidence too.
        passage = hit.score / best_passage if best_passage > 0 else 0.0
        score = (MEANING_WEIGHT * float(cosine) + LEXICAL_WEIGHT * lexical + TYPE_WEIGHT * typed
                 + PASSAGE_WEIGHT * passage)
        candidates.append(_Candidate(hit, start, end, text, score, float(cosine), lexical))
    candidates.sort(key=lambda c: (-c.score, c.hit.rank, c.start))
    return candidates


def _select(candidates: list[_Candidate]) -> list[_Candidate]:
    """The best sentence and up to two more that are nearly as good and say something else."""
    best = candidates[0]
    chosen = [best]
    for candidate in candidates[1:]:
        if len(chosen) == MAX_SENTENCES or candidate.score < best.score - 0.05:
            break
        overlaps = any(
            c.hit.path == candidate.hit.path and c.start < candidate.end and candidate.start < c.end
            or _similar(c.text, candidate.text) for c in chosen
        )
        if not overlaps:
            chosen.append(candidate)
    return chosen


def _similar(a: str, b: str) -> bool:
    wa, wb = set(a.lower().split()), set(b.lower().split())
    return len(wa & wb) / max(1, min(len(wa), len(wb))) > 0.8


def _citation(n: int, c: _Candidate) -> Citation:
    offset = c.start - c.hit.start_char
    start_line = c.hit.start_line + c.hit.text.count("\n", 0, offset)
    end_line = start_line + c.text.count("\n")
    return Citation(n=n, path=c.hit.path, title=c.hit.title, start_line=start_line,
                    end_line=end_line, start_char=c.start, end_char=c.end, quote=c.text,
                    score=round(c.score, 4), page=c.hit.page)


REFUSAL_TEXT = ("The documents don't say. I found nothing in the corpus that answers this; "
                "the closest matches are listed below, and they do not answer the question.")


def compose(question: str, hits: list[Hit], retriever: Retriever, weights: TermWeights,
            assumption: str | None = None, threshold: float = REFUSAL_THRESHOLD) -> Answer:
    """Build the answer for ``question`` from ``hits`` (see module docstring)."""
    candidates = _candidates(question, hits, retriever, weights)
    confidence = candidates[0].score if candidates else 0.0
    if not candidates or confidence < threshold:
        return Answer(question, REFUSAL_TEXT, False, (), tuple(hits), confidence, assumption)
    chosen = _select(candidates)  # best evidence first: [1] is always the strongest
    citations = tuple(_citation(n, c) for n, c in enumerate(chosen, start=1))
    text = " ".join(f"{c.quote} [{c.n}]" for c in citations)
    return Answer(question, text, True, citations, tuple(hits), confidence, assumption)
