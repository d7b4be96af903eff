"""Question + retrieved passages -> a short extractive answer whose every sentence is cited, or
an honest "the documents don't say" with the closest passages.

qa's own answer model (``qa.models.reader``) reads each of the top passages with the question
and gives, per passage, the calibrated probability that it answers and the best answer words.
* The answer is the sentence holding the best answer words of the most probable passage: ``[1]``.
  More sentences are added only when they answer too (another passage above the threshold, whose
  answer words lie in a different sentence), never as filler; at most ``MAX_SENTENCES``.
* A sentence is a candidate only when it reads as a sentence: headings, wiki/markup lines, table
  separators, bullet fragments and navigation boilerplate are context, never quotes. When the
  model's best words fall in such a line, its next best words that lie in a sentence are used.
* ``Answer.confidence`` is the model's calibrated probability (Platt scaling on held-out
  articles, see the model card); below the card's threshold the answer is a refusal.
* The short answer (``Answer.answer_span``): the answer words themselves, given first when the
  model is confident and they are shorter than their sentence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from qa.chunking import passage_units
from qa.conflicts import claim, comparable, disagree, same_subject
from qa.layout import is_toc_line, layout_of, shown
from qa.lexical import query_tokens as lexical_query_tokens
from qa.types import Answer, AnswerSpan, Citation, Conflict, Hit

if TYPE_CHECKING:
    from qa.models.nli import Judge
    from qa.models.reader import Reader, Reading

MAX_SENTENCES = 3
MAX_PASSAGES_READ = 5
MIN_WORDS = 4
# A passage that gives a different value is cited as the other side of a conflict when its
# probability reaches this fraction of the refusal threshold: a source that only nearly
# answers still deserves to be shown when it contradicts the answer.
CONFLICT_BAR = 0.6
# ... and when its sentence (with its document's title) holds at least this share of the
# question's key terms: a different value in a sentence about something else is no disagreement.
CONFLICT_COVERAGE = 0.5
# Sentence pairs the inference model judges per answer (each read both ways): [1] against the
# other candidates, then the cited sentences against each other, most probable first.
MAX_NLI_PAIRS = 6
MAX_CONTRADICTING = 2  # uncited sentences added as the other side of a contradiction

REFUSAL_TEXT = ("The documents don't say. I found nothing in the corpus that answers this; "
                "the closest matches are listed below, and they do not answer the question.")

_MARKUP_LINE = re.compile(r"^\s*(?:=+.*=+|#{1,6}\s.*|[|+:\-\s=_*~`]+|(?:!!!|\?\?\?).*|\[\^?[^\]]+\]:\s*\S+.*"
                          r"|(?:`{3,}|~{3,}).*|\{:?\s*[#.:][^}]*\}|<!--.*)\s*$")
_BULLET = re.compile(r"^\s*(?:[-*+\u2022\u25aa\u2013]|\d{1,3}[.)])\s+")
_NAVIGATION = re.compile(r"(?:\s[|\u00bb\u203a>]\s.*){2,}|^\s*(?:home|menu|skip to|back to top|next|previous)\b", re.I)
_SENTENCE_END = re.compile(r"[.!?:;)\"\u201d\u2019']\s*(?:\[\d+\])?\s*$")


def is_sentence(text: str) -> bool:
    """Whether a unit of text can be quoted as an answer (see module docstring)."""
    stripped = text.strip()
    if (len(stripped.split()) < MIN_WORDS or _MARKUP_LINE.match(stripped) or _NAVIGATION.search(stripped)
            or is_toc_line(stripped)):
        return False
    if "\n" not in stripped and stripped.count("|") >= 2:  # a table row is data, not a claim
        return False
    # A bullet that is a fragment ("- International Meeting of ... Parties") names a thing; a
    # bullet that is a whole sentence (ends like one, and is long enough) states something.
    return not (_BULLET.match(stripped) and (not _SENTENCE_END.search(stripped) or len(stripped.split()) < 8))


def key_terms(question: str) -> list[str]:
    """Stemmed content terms of a question (stopwords and question words removed)."""
    return [t for t in dict.fromkeys(lexical_query_tokens(question)) if t not in _QUESTION_WORDS]


_QUESTION_WORDS = {"what", "when", "where", "who", "whom", "which", "why", "how", "mani", "much",
                   "did", "doe", "do", "wa", "is", "ar", "were", "name", "tell", "say", "accord",
                   "mean", "meant", "defin", "explain", "describ", "document", "corpus", "text"}


@dataclass(frozen=True)
class Candidate:
    """One passage's answer: the sentence holding its best answer words (char offsets in the
    document), the words themselves, and the model's calibrated probability."""

    hit: Hit
    start: int
    end: int
    text: str
    span_start: int
    span_end: int
    probability: float
    span_score: float
    reading: Reading | None = None  # everything the model said about the passage (for explain)


def _layout(hit: Hit) -> str:
    return layout_of(hit.path, hit.page is not None)


def _sentences(hit: Hit) -> list[tuple[int, int, str]]:
    """Quotable sentences of a passage: (start, end) in the passage, stripped text. A sentence
    must read as one in the file (``is_sentence``) and in what a reader sees of it: a line of
    link markup is no sentence even when it has four "words"."""
    layout = _layout(hit)
    out = []
    for piece in passage_units(hit.text, layout):
        if not piece.quotable:
            continue
        raw = hit.text[piece.start:piece.end]
        lead = len(raw) - len(raw.lstrip())
        text = raw.strip()
        if is_sentence(text) and len(shown(text, layout).split()) >= MIN_WORDS:
            out.append((piece.start + lead, piece.start + lead + len(text), text))
    return out


def candidates(question: str, hits: list[Hit], reader: Reader) -> list[Candidate]:
    """The model's answer in each of the top passages, most probable first."""
    read = hits[:MAX_PASSAGES_READ]
    if not read:
        return []
    # The title and headings are part of what a passage is about ("it" in "When was it
    # signed?" is the title's subject), so a specific named there is not missing.
    readings = reader.read(question, [h.text for h in read],
                           [" ".join((h.title, *h.heading_path, h.text)) for h in read])
    found = []
    for hit, reading in zip(read, readings, strict=True):
        sentences = _sentences(hit)
        for span_start, span_end, score in reading.spans:
            holder = next(((s, e, t) for s, e, t in sentences if s <= span_start and span_end <= e), None)
            if holder is None:
                continue  # words in a heading or fragment: try the model's next best words
            s, e, text = holder
            found.append(Candidate(hit, hit.start_char + s, hit.start_char + e, text,
                                   hit.start_char + span_start, hit.start_char + span_end,
                                   reading.probability, score, reading))
            break
    found.sort(key=lambda c: (-c.probability, -c.span_score, c.hit.rank))
    return found


def _select(found: list[Candidate], threshold: float) -> tuple[list[Candidate], dict[int, str]]:
    """The best sentence, and others only when they answer too and say something else; with
    the reason for each candidate left out (by index in ``found``)."""
    chosen = [found[0]]
    reasons: dict[int, str] = {}
    for i, candidate in enumerate(found[1:], start=1):
        if candidate.probability < threshold:
            reasons[i] = f"probability {candidate.probability:.4f} below the threshold {threshold:.4f}"
        elif len(chosen) == MAX_SENTENCES:
            reasons[i] = f"already {MAX_SENTENCES} sentences"
        elif any(_overlaps(c, candidate) for c in chosen):
            reasons[i] = "says what a chosen sentence says (same span or same words)"
        else:
            chosen.append(candidate)
    return chosen, reasons


def _overlaps(a: Candidate, b: Candidate) -> bool:
    return a.hit.path == b.hit.path and a.start < b.end and b.start < a.end or _similar(a.text, b.text)


def _similar(a: str, b: str) -> bool:
    wa, wb = set(a.lower().split()), set(b.lower().split())
    return len(wa & wb) / max(1, min(len(wa), len(wb))) > 0.8


def _citation(n: int, c: Candidate) -> Citation:
    offset = c.start - c.hit.start_char
    start_line = c.hit.start_line + c.hit.text.count("\n", 0, offset)
    end_line = start_line + c.text.count("\n")
    return Citation(n=n, path=c.hit.path, title=c.hit.title, start_line=start_line,
                    end_line=end_line, start_char=c.start, end_char=c.end, quote=c.text,
                    score=round(c.probability, 4), page=c.hit.page, text=shown(c.text, _layout(c.hit)))


def _short_answer(best: Candidate, span_threshold: float) -> AnswerSpan | None:
    """The answer words, when the model is sure of them and they say less than the sentence."""
    offset = best.span_start - best.hit.start_char
    text = best.hit.text[offset:offset + best.span_end - best.span_start]
    if (best.probability < span_threshold or not text.strip()
            or len(text) >= 0.8 * (best.end - best.start)):
        return None
    return AnswerSpan(text=text, path=best.hit.path, start_char=best.span_start,
                      end_char=best.span_end, citation=1)


def _coverage(terms: list[str], text: str) -> float:
    present = set(lexical_query_tokens(text))
    return sum(t in present for t in terms) / len(terms) if terms else 1.0


def _other_sides(question: str, found: list[Candidate], best: Candidate, bar: float) -> list[Candidate]:
    """Candidates that may be the other side of a conflict with ``best``: near-answers (above
    ``bar``) saying something else, about the question's subject, in a sentence holding enough
    of its key terms."""
    terms = key_terms(question)
    out = []
    for candidate in found:
        if candidate is best or candidate.probability < bar or _overlaps(best, candidate):
            continue
        hit = candidate.hit
        if (same_subject(question, " ".join((hit.title, *hit.heading_path, hit.text)))
                and _coverage(terms, f"{hit.title} {candidate.text}") >= CONFLICT_COVERAGE):
            out.append(candidate)
    return out


def _value_conflicts(question: str, found: list[Candidate], chosen: list[Candidate],
                     bar: float) -> tuple[list[Candidate], list[Candidate]]:
    """Candidates whose answer words give another value than [1]'s (see ``qa.conflicts``): those
    already chosen, and those above ``bar`` that must be cited as the other side."""
    best = chosen[0]
    base = claim(question, best.text, (best.span_start - best.start, best.span_end - best.start))
    if base is None:
        return [], []
    cited: list[Candidate] = []
    extra: list[Candidate] = []
    for candidate in _other_sides(question, found, best, bar):
        other = claim(question, candidate.text,
                      (candidate.span_start - candidate.start, candidate.span_end - candidate.start))
        if other is None or not disagree(base, other):
            continue
        if candidate in chosen:
            cited.append(candidate)
        elif not any(_overlaps(c, candidate) for c in chosen + extra):
            extra.append(candidate)
    return cited, extra


def _contradictions(question: str, found: list[Candidate], chosen: list[Candidate], bar: float,
                    judge: Judge, known: set[frozenset[int]]) -> tuple[list[tuple[Candidate, Candidate, float]], list[Candidate]]:
    """Pairs of sentences from different passages that the inference model reads as
    contradicting each other (see ``qa.conflicts.comparable``), with their score; and the
    uncited sentences among them, to be cited as the other side. ``known``: pairs (by id) that
    already are a value conflict."""
    pairs = [(a, b) for i, a in enumerate(chosen) for b in chosen[i + 1:]]
    pairs += [(chosen[0], c) for c in _other_sides(question, found, chosen[0], bar) if c not in chosen]
    pairs = [(a, b) for a, b in pairs
             if (a.hit.path, a.hit.start_char) != (b.hit.path, b.hit.start_char)
             and frozenset((id(a), id(b))) not in known and comparable(a.text, b.text)][:MAX_NLI_PAIRS]
    scores = judge.contradiction([(a.text, b.text) for a, b in pairs])
    found_pairs = [(a, b, p) for (a, b), p in zip(pairs, scores, strict=True) if p >= judge.card.contradiction_threshold]
    extra: list[Candidate] = []
    for _, b, _ in found_pairs:
        if b not in chosen and b not in extra and len(extra) < MAX_CONTRADICTING:
            extra.append(b)
    return [(a, b, p) for a, b, p in found_pairs if a in chosen + extra and b in chosen + extra], extra


@dataclass(frozen=True)
class Decision:
    """The answer and how it was reached: every candidate sentence the model found, most
    probable first, with the citation it became (None: left out) and why."""

    answer: Answer
    candidates: tuple[Candidate, ...]
    citation_of: tuple[int | None, ...]  # per candidate
    reasons: tuple[str, ...]  # per candidate
    threshold: float
    conflict_bar: float


def decide(question: str, hits: list[Hit], reader: Reader, assumption: str | None = None,
           threshold: float | None = None, judge: Judge | None = None) -> Decision:
    """Build the answer for ``question`` from ``hits`` (see module docstring), keeping the
    evidence for ``qa ask --explain``. ``judge`` (the inference model) looks for statements
    that contradict each other; without it only values are compared."""
    threshold = reader.card.threshold if threshold is None else threshold
    bar = CONFLICT_BAR * threshold
    found = candidates(question, hits, reader)
    confidence = found[0].probability if found else 0.0
    if not found or confidence < threshold:
        answer = Answer(question, REFUSAL_TEXT, False, (), tuple(hits), confidence, assumption)
        why = f"refused: the best evidence has probability {confidence:.4f}, below the threshold {threshold:.4f}"
        return Decision(answer, tuple(found), (None,) * len(found), (why,) * len(found), threshold, bar)
    chosen, reasons = _select(found, threshold)  # best evidence first: [1] is always the strongest
    disagreeing, extra = _value_conflicts(question, found, chosen, bar)
    chosen += extra
    known = {frozenset((id(chosen[0]), id(c))) for c in (*disagreeing, *extra)}
    contradicting, contra_extra = (_contradictions(question, found, chosen, bar, judge, known)
                                   if judge is not None else ([], []))
    chosen += contra_extra
    citations = tuple(_citation(n, c) for n, c in enumerate(chosen, start=1))
    span = _short_answer(chosen[0], reader.card.span_threshold)
    # The answer shows what a reader sees; each citation keeps the file's own text too.
    text = " ".join(f"{c.text} [{c.n}]" for c in citations)
    if span is not None:
        text = f"{' '.join(shown(span.text, _layout(chosen[0].hit)).split())} \u2014 {text}"
    conflicts: tuple[Conflict, ...] = ()
    sides = [chosen[0], *disagreeing, *extra]
    if len(sides) > 1:
        numbers = tuple(chosen.index(c) + 1 for c in sides)
        values = tuple(c.hit.text[c.span_start - c.hit.start_char:c.span_end - c.hit.start_char] for c in sides)
        conflicts = (Conflict(numbers, "value", values),)
    conflicts += tuple(Conflict((chosen.index(a) + 1, chosen.index(b) + 1), "contradiction", (a.text, b.text))
                       for a, b, _ in contradicting)
    answer = Answer(question, text, True, citations, tuple(hits), confidence, assumption, span, conflicts)
    citation_of = tuple(chosen.index(c) + 1 if c in chosen else None for c in found)
    reason_of: list[str] = []
    for i, c in enumerate(found):
        if c in extra:
            reason_of.append(f"gives another value than [1] (probability {c.probability:.4f} above the conflict bar {bar:.4f}): cited as the other side")
        elif c in contra_extra:
            score = max(p for _, b, p in contradicting if b is c)
            reason_of.append(f"contradicts [1] (the inference model's P(contradiction) {score:.4f}, both ways, "
                             "at or above its threshold): cited as the other side")
        elif i == 0:
            reason_of.append(f"the most probable answer (probability {c.probability:.4f} at or above the threshold {threshold:.4f})")
        elif c in chosen:
            reason_of.append(f"answers too (probability {c.probability:.4f} at or above the threshold) and says something else")
        else:
            reason_of.append(reasons[i])
    return Decision(answer, tuple(found), citation_of, tuple(reason_of), threshold, bar)

