from __future__ import annotations

import hashlib

import pytest

from qa import loading
from qa.chunking import ChunkerSettings, chunk_document, text_units
from qa.types import Document, line_starts_of

from ..conftest import CORPUS


def make_doc(text: str, path: str = "doc.txt") -> Document:
    return Document(path, "Doc", text, hashlib.sha256(text.encode()).hexdigest(), line_starts_of(text))


def shipped_documents() -> list[Document]:
    return [loading.load(source)[0] for source in loading.scan(CORPUS)]


def assert_fits(chunks, tokenizer, settings=ChunkerSettings()):
    sizes = tokenizer.count([c.embedding_text() for c in chunks])
    over = [(c.path, c.start_line, n) for c, n in zip(chunks, sizes, strict=True)
            if n + settings.special_tokens > settings.max_tokens]
    assert not over, f"chunks over the model's {settings.max_tokens}-token limit: {over}"


def test_no_chunk_of_the_shipped_corpus_exceeds_the_model_limit(tokenizer):
    for doc in shipped_documents():
        assert_fits(chunk_document(doc, tokenizer.count), tokenizer)


@pytest.mark.parametrize("text", [
    "word " * 5000,  # one 5000-word "sentence"
    ("Supercalifragilistic" * 400 + " ") * 3,  # words longer than the budget
    "x" * 20000,  # one enormous token-less blob
    "\n".join(f"| {i} | cell {i} | more {i} |" for i in range(2000)),  # a long table
    ("Short sentence here. " * 3000),
    "日本語の文章です。" * 2000,
])
def test_adversarial_text_never_exceeds_the_limit(tokenizer, text):
    chunks = chunk_document(make_doc(text), tokenizer.count)
    assert chunks
    assert_fits(chunks, tokenizer)


def test_spans_round_trip_to_the_source_for_every_chunk_of_the_shipped_corpus(tokenizer):
    for doc in shipped_documents():
        raw = (CORPUS / doc.path).read_text(encoding="utf-8")
        for chunk in chunk_document(doc, tokenizer.count):
            assert raw[chunk.start_char:chunk.end_char] == chunk.text
            # Line numbers recomputed from the file itself, independently of the line map.
            assert raw.count("\n", 0, chunk.start_char) + 1 == chunk.start_line
            assert raw.count("\n", 0, chunk.end_char - 1) + 1 == chunk.end_line
            first_line = raw.splitlines()[chunk.start_line - 1]
            assert chunk.text.splitlines()[0] in first_line


def test_chunks_cover_all_content(tokenizer):
    doc = shipped_documents()[1]
    chunks = chunk_document(doc, tokenizer.count)
    covered = set()
    for c in chunks:
        covered.update(range(c.start_char, c.end_char))
    for start, end in text_units(doc.text):
        sentence = doc.text[start:end]
        if "Subscribe" in sentence or "Proletarian writers" in sentence:
            continue
        assert set(range(start, end)) <= covered, sentence


def test_repeated_boilerplate_lines_are_dropped(tokenizer):
    doc = next(d for d in shipped_documents() if d.path.startswith("wpk-seventh"))
    chunks = chunk_document(doc, tokenizer.count)
    assert not any("Subscribe to our channel" in c.text for c in chunks)
    assert not any("Subscribe to our channel" in c.heading_path for c in chunks)


def test_headings_give_heading_paths_and_start_chunks(tokenizer):
    text = "# Guide\n\nIntro text here.\n\n## Install\n\nRun the installer now.\n\n## Use\n\nType a question.\n"
    chunks = chunk_document(make_doc(text), tokenizer.count)
    paths = {c.text.splitlines()[-1]: c.heading_path for c in chunks}
    assert paths["Run the installer now."] == ("Guide", "Install")
    assert paths["Type a question."] == ("Guide", "Use")


def test_long_sections_get_overlapping_neighbours(tokenizer):
    text = " ".join(f"Sentence number {i} talks about topic {i % 7}." for i in range(300))
    chunks = chunk_document(make_doc(text), tokenizer.count)
    assert len(chunks) > 3
    overlapping = sum(a.end_char > b.start_char for a, b in zip(chunks, chunks[1:], strict=False))
    assert overlapping >= len(chunks) // 2


def test_chunking_is_deterministic(tokenizer):
    doc = shipped_documents()[0]
    assert chunk_document(doc, tokenizer.count) == chunk_document(doc, tokenizer.count)
