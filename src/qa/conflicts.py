"""Do two answering sentences give different values for what the question asks?

The answer model gives, in each passage it reads, the words that answer the question (its span).
Two spans from different passages are compared as values of the kind the question asks for:
* a date ("When ...?", or a span that is a date): day, month and year, each compared only when
  both sides give it ("April 1992" agrees with "20 April 1992", not with "20 April 1993");
* a count ("How many/much ...?"): the first number, digits or words ("sixty-nine" = 69);
* a name ("Who/Whom/Whose ...?"): the capitalised words of a short span, differing when they
  share none beyond titles.
Anything else is not compared: a "what" span varies in extent too much to call a difference a
disagreement.

A value that changes over time is not a conflict when the sentences say when: "258 signatories
in 2002" and "300 in 2017" each name a different time (a year or date outside the answer words),
so both can be true.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_MONTHS = {m: i for i, m in enumerate(
    ["january", "february", "march", "april", "may", "june", "july", "august", "september",
     "october", "november", "december"], start=1)}
_MONTHS.update({m[:3]: i for m, i in list(_MONTHS.items())})
_MONTHS["sept"] = 9
_MONTH = r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sept?(?:ember)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
_YEAR = r"(?:1[0-9]{3}|20[0-9]{2})"
_DAY_MONTH_YEAR = re.compile(rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?({_MONTH})(?:,?\s+({_YEAR}))?\b", re.I)
_MONTH_DAY_YEAR = re.compile(rf"\b({_MONTH})\s+(\d{{1,2}})(?:st|nd|rd|th)?(?:,?\s+({_YEAR}))?\b", re.I)
_MONTH_YEAR = re.compile(rf"\b({_MONTH})\s+({_YEAR})\b", re.I)
_ISO = re.compile(rf"\b({_YEAR})-(\d{{2}})-(\d{{2}})\b")
_YEAR_ONLY = re.compile(rf"\b({_YEAR})s?\b")
_NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")
_UNITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
          "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen",
          "nineteen")
_NUMBER_WORDS = {w: i for i, w in enumerate(_UNITS)}
_TENS = {w: 10 * i for i, w in enumerate(
    ("", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")) if w}
_TIME_WORDS = re.compile(r"\b(?:today|currently|now|as of|at present|at the time)\b", re.I)
_TITLES = {"mr", "mrs", "ms", "dr", "sir", "president", "general", "chairman", "comrade", "king",
           "queen", "prime", "minister", "secretary", "leader", "the", "of", "and", "a", "an", "all",
           "this", "that", "these", "those", "our", "his", "her", "their", "its", "in", "on"}


@dataclass(frozen=True)
class Claim:
    """The value one sentence gives: its kind, normalised form, and the time it is said to hold."""

    kind: str  # "date", "count" or "name"
    value: tuple[object, ...]
    when: frozenset[str]  # years, dates or time words of the sentence outside the answer words


def asked_kind(question: str) -> str | None:
    q = question.lower()
    if re.search(r"\bhow (?:many|much)\b", q):
        return "count"
    if re.search(r"\b(?:when|what (?:year|date|day|month)|which (?:year|date|day|month))\b", q):
        return "date"
    if re.search(r"\b(?:who|whom|whose)\b", q):
        return "name"
    return None


def _date(text: str) -> tuple[object, ...] | None:
    """(year, month, day), None where the text does not say."""
    if m := _ISO.search(text):
        return int(m.group(1)), int(m.group(2)), int(m.group(3))
    if m := _DAY_MONTH_YEAR.search(text):
        return _int(m.group(3)), _MONTHS[m.group(2).lower().rstrip(".")], int(m.group(1))
    if m := _MONTH_DAY_YEAR.search(text):
        return _int(m.group(3)), _MONTHS[m.group(1).lower().rstrip(".")], int(m.group(2))
    if m := _MONTH_YEAR.search(text):
        return int(m.group(2)), _MONTHS[m.group(1).lower().rstrip(".")], None
    if m := _YEAR_ONLY.search(text):
        return int(m.group(1)), None, None
    return None


def _int(text: str | None) -> int | None:
    return int(text) if text else None


def _count(text: str) -> tuple[object, ...] | None:
    if any(p.search(text) for p in (_ISO, _DAY_MONTH_YEAR, _MONTH_DAY_YEAR, _MONTH_YEAR)):
        return None  # "20 April" answers "when", not "how many"
    if m := _NUMBER.search(text):
        return (float(m.group(0).replace(",", "")),)
    words = re.findall(r"[a-z]+", text.lower())
    for i, word in enumerate(words):
        if word in _TENS:
            unit = _NUMBER_WORDS.get(words[i + 1], 0) if i + 1 < len(words) and _NUMBER_WORDS.get(words[i + 1], 0) < 10 else 0
            return (float(_TENS[word] + unit),)
        if word in _NUMBER_WORDS:
            return (float(_NUMBER_WORDS[word]),)
    return None


def _name(text: str) -> tuple[object, ...] | None:
    """The capitalised words of a short span, titles and function words left out: "President
    Kim Il Sung" -> (il, kim, sung). A span with none ("warmly", "the representatives of
    political parties") or a long one is not a name."""
    if len(text.split()) > 6:
        return None
    words = tuple(sorted({w.lower() for w in re.findall(r"\b[A-Z][\w'-]*", text)} - _TITLES))
    return words or None


def _when(sentence: str, span: tuple[int, int], kind: str) -> frozenset[str]:
    """Years and time words of the sentence outside the answer words. For a date the years are
    the value itself, so only time words count."""
    outside = sentence[:span[0]] + " \u2016 " + sentence[span[1]:]
    found = {m.group(0).lower() for m in _TIME_WORDS.finditer(outside)}
    if kind != "date":
        found |= {m.group(1) for m in _YEAR_ONLY.finditer(outside)}
    return frozenset(found)


def _widen_date(sentence: str, span: tuple[int, int]) -> tuple[int, int]:
    """The span grown to the whole date expression it touches ("20 April" of "20 April 1992")."""
    best = span
    for pattern in (_ISO, _DAY_MONTH_YEAR, _MONTH_DAY_YEAR, _MONTH_YEAR):
        for m in pattern.finditer(sentence):
            if m.start() < span[1] and span[0] < m.end():
                best = (min(best[0], m.start()), max(best[1], m.end()))
    return best


def claim(question: str, sentence: str, span: tuple[int, int]) -> Claim | None:
    """The value that the words ``sentence[span[0]:span[1]]`` give for ``question``, or None
    when the question does not ask for a comparable value or the words hold none."""
    kind = asked_kind(question)
    if kind is None or not sentence[span[0]:span[1]].strip():
        return None
    if kind == "date":
        span = _widen_date(sentence, span)
    value = {"date": _date, "count": _count, "name": _name}[kind](sentence[span[0]:span[1]])
    return None if value is None else Claim(kind, value, _when(sentence, span, kind))


_SPECIFIC = re.compile(r"\b\d[\d,.]*\d\b|\b\d\b|\b[A-Z][\w'-]*[a-z][\w'-]*\b")
_NOT_NAMES = {"what", "when", "where", "who", "whom", "whose", "which", "why", "how", "i"}


def same_subject(question: str, context: str) -> bool:
    """Whether a passage (with its title and headings) names every specific of the question
    (numbers, capitalised names): a value from a passage about something else ("6-9 May", the
    dates of a congress, for "When was the Pyongyang Declaration signed?") is no disagreement."""
    words = {w.lower().strip("'-.,") for w in re.findall(r"[\w'-]+", context)}
    for match in _SPECIFIC.finditer(question):
        term = match.group(0).lower().strip("'-.,")
        if match.start() > 0 and term not in _NOT_NAMES and term not in words:
            return False
    return True


def disagree(a: Claim, b: Claim) -> bool:
    """Whether two claims give different values for the same thing at the same time."""
    if a.kind != b.kind:
        return False
    if (a.when or b.when) and a.when != b.when:
        return False  # the sentences place their values at different times: both may hold
    if a.kind == "date":
        return any(x is not None and y is not None and x != y for x, y in zip(a.value, b.value, strict=True))
    if a.kind == "name":
        return not set(a.value) & set(b.value)
    return a.value != b.value


# ---------------------------------------------------------------- contradictions
#
# For statements, not values: one sentence negating or excluding another ("The bridge is open to
# traffic" vs "The bridge has been closed to traffic since the flood"). The inference model
# (``qa.models.nli``) judges each pair both ways; only a handful of pairs per answer, and only
# pairs that can be about the same thing at the same time, are shown to it.

MIN_SHARED = 0.4  # share of the shorter sentence's content words the other must also use


def time_marks(sentence: str) -> frozenset[str]:
    """The years, dates and time words a sentence places itself at."""
    found = {m.group(0).lower() for m in _TIME_WORDS.finditer(sentence)}
    found |= {m.group(1) for m in _YEAR_ONLY.finditer(sentence)}
    return frozenset(found)


_STOPWORDS = {"the", "a", "an", "of", "in", "on", "at", "to", "for", "by", "with", "from", "and", "or",
              "is", "was", "were", "are", "be", "been", "it", "its", "as", "that", "this", "which"}


def _content_words(sentence: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9]+", sentence.lower()) if w not in _STOPWORDS}


def comparable(a: str, b: str) -> bool:
    """Whether two sentences can contradict each other as statements: they place themselves at
    the same time (or neither says when: "258 in 2002" and "300 in 2017" both hold), and they
    talk about the same things (the inference model was trained on pairs about one scene, and
    reads two sentences about different things as contradicting)."""
    if time_marks(a) != time_marks(b):
        return False
    wa, wb = _content_words(a), _content_words(b)
    return bool(wa and wb) and len(wa & wb) / min(len(wa), len(wb)) >= MIN_SHARED
