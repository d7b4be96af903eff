"""Chunking provably progresses (issue 14, item 3): on any text it ends within a bounded number
of tokenizer calls, its chunks cover every visible character, and every chunk's offsets slice
back to its text. Driven by Hypothesis with the real tokenizer."""

from __future__ import annotations

import hashlib
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qa.chunking import _LINE_ENDS, ChunkerSettings, _blocks, _boilerplate, chunk_document
from qa.layout import FRONT, MARKUP, layout_of, line_roles
from qa.types import Document, line_starts_of

SETTINGS = ChunkerSettings()


def make_doc(text: str, title: str = "Doc") -> Document:
    return Document("doc.md", title, text, hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest(),
                    line_starts_of(text))


class CountingTokenizer:
    """The real tokenizer, counting how often chunking asks it: the termination bound."""

    def __init__(self, tokenizer, bound: int) -> None:
        self.tokenizer = tokenizer
        self.bound = bound
        self.calls = 0

    def __call__(self, texts):
        self.calls += 1
        if self.calls > self.bound:  # fail instead of hanging: this is the bound being proven
            raise AssertionError(f"chunking asked the tokenizer more than {self.bound} times")
        return self.tokenizer.count(texts)


def call_bound(text: str) -> int:
    # Units and long-sentence splits: one call each at most per unit; halving: log2(len) passes.
    units = text.count("\n") + text.count(".") + text.count("!") + text.count("?") + 1
    return 16 + 2 * units + 4 * math.ceil(math.log2(len(text) + 2)) ** 2


def check(doc: Document, tokenizer) -> None:
    chunks = chunk_document(doc, CountingTokenizer(tokenizer, call_bound(doc.text)), SETTINGS)
    text = doc.text
    covered = bytearray(len(text))
    for chunk in chunks:
        assert text[chunk.start_char:chunk.end_char] == chunk.text
        assert chunk.start_line == doc.line_of(chunk.start_char)
        assert chunk.end_line == doc.line_of(max(chunk.start_char, chunk.end_char - 1))
        covered[chunk.start_char:chunk.end_char] = b"\x01" * (chunk.end_char - chunk.start_char)
    # Page furniture (a short line repeated in the file) is dropped by design, and so are
    # Markdown's markup lines (front matter, fences, comments: see qa.layout); all else is kept.
    layout = layout_of(doc.path, bool(doc.page_starts))
    blocks = _blocks(text, layout)
    dropped = _boilerplate(text, blocks)
    furniture = bytearray(len(text))
    for start, end, _ in blocks:
        if start in dropped:
            furniture[start:end] = b"\x01" * (end - start)
    raw_lines = text.splitlines(keepends=True)
    pos = 0
    for raw, role in zip(raw_lines, line_roles([r.rstrip(_LINE_ENDS) for r in raw_lines], layout), strict=True):
        if role in (FRONT, MARKUP):
            furniture[pos:pos + len(raw)] = b"\x01" * len(raw)
        pos += len(raw)
    missing = [i for i, ch in enumerate(text) if not ch.isspace() and not covered[i] and not furniture[i]]
    assert not missing, f"characters in no chunk: {[text[i] for i in missing[:10]]} at {missing[:10]}"
    # The context before each chunk is bounded, so there is always room for text.
    sizes = tokenizer.count([c.embedding_text() for c in chunks])
    assert all(n + SETTINGS.special_tokens <= SETTINGS.max_tokens or c.end_char - c.start_char <= 1
               for c, n in zip(chunks, sizes, strict=True))


words = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=12)
line = st.one_of(
    st.lists(words, max_size=40).map(" ".join),
    st.lists(words, min_size=1, max_size=300).map(lambda w: "# " + " ".join(w)),  # huge headings
    st.lists(words, min_size=1, max_size=300).map(lambda w: "== " + " ".join(w) + " =="),
    st.just(""),
    st.text(max_size=200),
)
texts = st.lists(line, max_size=30).map("\n".join)


@pytest.mark.filterwarnings("ignore")
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=texts, title=st.text(max_size=600))
def test_any_text_terminates_covers_and_slices_back(tokenizer, text, title):
    check(make_doc(text, title or "Doc"), tokenizer)


@pytest.mark.parametrize("pieces", [40, 80, 160, 230, 1000])
def test_a_huge_heading_neither_hangs_nor_makes_one_character_chunks(tokenizer, pieces):
    """Before: ~160 word pieces of heading gave one-character chunks, ~230 looped forever."""
    heading = " ".join(f"w{i}x" for i in range(pieces))
    for text in (f"# {heading}\n\nBody sentence one. Body sentence two.\n",
                 f"== {heading} ==\n\nBody sentence one. Body sentence two.\n"):
        doc = make_doc(text, title=heading)
        check(doc, tokenizer)
        chunks = chunk_document(doc, tokenizer.count)
        assert all(len(c.text) > 1 for c in chunks)
        assert "Body sentence one. Body sentence two." in chunks[-1].text
