"""Documents as people write them (issue 15): Markdown with front matter and mkdocs markup, PDFs
with wrapped lines and a table of contents, Word files, HTML. One small real corpus in a tmp
folder, indexed once with the shipped model; questions through ``qa ask`` and the CLI."""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner

import qa
from qa.cli import cli

from ..pdf_maker import make_pdf

GUIDE = """---
title: "Installing the Widget"
tags: [setup, widget]
description: >
  How to set the widget up.
---

# Installation {#install}

!!! note "Before you start"
    The widget needs **Python 3.11** or newer to run, as the
    [release notes](https://example.com/notes) explain.

<!-- TODO: mention Windows -->

Installing the widget with `pip` takes about
*forty seconds* on an ordinary laptop.
{: .lead }

```bash
pip install widget --upgrade
```

[notes]: https://example.com/notes
"""

NO_TITLE = """---
tags: [harbour]
---

# The Harbour Authority

The harbour authority was founded in 1873 by the merchants of the old town.
"""

PDF_PAGES = [
    "Contents\n1 Introduction ........ 2\n2 Storage rules ........ 3",
    "Introduction\nThe archive was founded in 1931 by the city council of\nRotterdam after the great fire.",
    "Storage rules\nThe document vault is kept at a constant tempera-\nture of twelve degrees Celsius all year round.",
]


def make_docx(path) -> None:
    import docx

    document = docx.Document()
    document.core_properties.title = "Staff Handbook"
    document.add_heading("Leave", level=1)
    document.add_paragraph("")
    document.add_paragraph("Every employee receives twenty-eight days of paid leave each year.")
    document.add_heading("Parking", level=2)
    document.add_paragraph("The staff car park on Mill Lane opens at six in the morning.")
    table = document.add_table(rows=2, cols=2)
    table.cell(0, 0).text, table.cell(0, 1).text = "Building", "Floors"
    table.cell(1, 0).text, table.cell(1, 1).text = "North wing", "Seven"
    document.save(str(path))


@pytest.fixture(scope="module")
def docs(tmp_path_factory):
    """(corpus, index_dir) of a small corpus of every format, indexed with the real model."""
    root = tmp_path_factory.mktemp("documents")
    corpus = root / "corpus"
    corpus.mkdir()
    (corpus / "guide.md").write_text(GUIDE, encoding="utf-8")
    (corpus / "harbour.md").write_text(NO_TITLE, encoding="utf-8")
    (corpus / "archive.pdf").write_bytes(make_pdf(PDF_PAGES))
    make_docx(corpus / "handbook.docx")
    (corpus / "broken.docx").write_bytes(b"PK\x03\x04 this is no zip at all")
    (corpus / "museum.html").write_text(
        "<html>\n<head><title>Museum</title></head>\n<body>\n<nav>Home</nav>\n\n"
        "<p>The museum\nlibrary lends\nbooks.</p>\n\n\n<p>The museum opened its doors to the public in 1902.</p>\n"
        "</body>\n</html>\n", encoding="utf-8")
    index_dir = root / "embeddings"
    report = qa.build_index(corpus, index_dir, export=False)
    return corpus, index_dir, report


@pytest.fixture(scope="module")
def index(docs):
    return qa.open_index(docs[1])


def ask_json(docs, question: str) -> dict:
    result = CliRunner().invoke(cli, ["ask", question, "--json", "--index-dir", str(docs[1])])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_front_matter_gives_the_title_and_is_never_chunked(docs, index):
    files = index.manifest.files
    assert files["guide.md"].title == "Installing the Widget"
    assert files["harbour.md"].title == "The Harbour Authority"  # no title: field: the heading
    for hit in index.search("tags setup widget description", k=10) + index.search("harbour tags", k=10):
        assert "tags:" not in hit.text and "---" not in hit.text


_MARKUP = re.compile(r"\*\*|`|\]\(|!!!|\{:|<!--|^\s*[-*] ")


def test_a_markdown_quote_shows_what_a_reader_sees_and_points_at_the_file(docs):
    corpus = docs[0]
    data = ask_json(docs, "Which Python version does the widget need?")
    assert data["grounded"], data["answer"]
    c = data["citations"][0]
    raw = (corpus / "guide.md").read_text(encoding="utf-8")
    assert c["path"] == "guide.md"
    assert raw[c["start_char"]:c["end_char"]] == c["quote"]  # the offsets still point at the file
    assert c["quote"] in "".join(raw.splitlines(keepends=True)[c["start_line"] - 1:c["end_line"]])
    assert "**Python 3.11**" in c["quote"]
    assert "Python 3.11" in c["text"] and not _MARKUP.search(c["text"]), c["text"]
    assert "release notes explain" in c["text"] and "\n" not in c["text"]
    assert not _MARKUP.search(data["answer"]), data["answer"]
    # qa verify re-derives the shown text from the file
    saved = docs[0].parent / "answer.json"
    saved.write_text(json.dumps(data), encoding="utf-8")
    result = CliRunner().invoke(cli, ["verify", str(saved), "--index-dir", str(docs[1])])
    assert result.exit_code == 0, result.output
    data["citations"][0]["text"] = "Python 2 is enough."
    saved.write_text(json.dumps(data), encoding="utf-8")
    result = CliRunner().invoke(cli, ["verify", str(saved), "--index-dir", str(docs[1])])
    assert result.exit_code != 0 and "shown text" in result.output


def test_markup_lines_are_never_answer_candidates(index):
    from qa.answering import _sentences

    for hit in index.search("widget install pip notes", k=10):
        for _, _, text in _sentences(hit):
            assert not re.match(r"\s*(?:```|~~~|!!!|\?\?\?|\{:|<!--|\[\w+\]:|#)", text), text
            assert "pip install widget" not in text  # a code line is not a sentence


def test_a_pdf_citation_is_on_the_page_of_its_sentence_joined_and_dehyphenated(docs):
    data = ask_json(docs, "At what temperature is the document vault kept?")
    assert data["grounded"], data["answer"]
    c = data["citations"][0]
    assert c["path"] == "archive.pdf"
    assert c["page"] == 3
    assert c["text"] == "The document vault is kept at a constant temperature of twelve degrees Celsius all year round."
    assert "tempera-\nture" in c["quote"]
    assert c["end_line"] > c["start_line"]  # one sentence over two lines of the page


def test_table_of_contents_lines_are_not_answer_candidates(index):
    from qa.answering import _sentences, is_sentence

    assert not is_sentence("2 Storage rules ........ 3")
    assert not is_sentence("2.1 Background and the early years 12")
    hits = [h for h in index.search("contents introduction storage rules", k=10) if h.page == 1]
    assert hits, "the contents page is indexed"
    assert all(not _sentences(h) for h in hits)


def test_a_word_document_is_answered_with_a_citation_by_paragraph(docs):
    data = ask_json(docs, "How many days of paid leave does an employee receive?")
    assert data["grounded"], data["answer"]
    c = data["citations"][0]
    assert c["path"] == "handbook.docx" and c["title"] == "Staff Handbook"
    assert "twenty-eight days" in c["text"]
    # line n is the n-th paragraph with text: the heading "Leave" is 1, the empty one is skipped
    assert c["start_line"] == 2 and c["end_line"] == 2
    hit = next(h for h in qa.open_index(docs[1]).search("staff car park Mill Lane", k=5) if h.path == "handbook.docx")
    assert hit.heading_path[-1] == "Parking"


def test_a_broken_word_document_is_skipped_with_a_named_reason(docs):
    report = docs[2]
    reasons = dict(report.skipped)
    assert "broken.docx" in reasons and "corrupt Word document" in reasons["broken.docx"]


def test_html_text_lines_map_to_source_lines(index):
    document, _ = index.read_document("museum.html")
    lines = document.text.split("\n")
    row = next(i for i, line in enumerate(lines) if "opened its doors" in line)
    source = (index.corpus / "museum.html").read_text().split("\n")
    assert "opened its doors" in source[document.source_line(row + 1) - 1]
    row = next(i for i, line in enumerate(lines) if line.startswith("The museum library"))
    assert source[document.source_line(row + 1) - 1] == "<p>The museum"
