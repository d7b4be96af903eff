"""`e` in the document view opens the right place for every format (issue 15): the file at the
cited line for text, the source line for HTML, the extracted text for PDF and Word, saying which.
Pilot on the real app over a small corpus indexed with the shipped model."""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path

import pytest

import qa
from qa.config import Settings
from qa.tui.app import QAApp
from qa.tui.document import DocumentScreen

from ..pdf_maker import make_pdf

HTML = ("<html>\n<head><title>Museum</title></head>\n<body>\n<nav>Home</nav>\n\n"
        "<p>The museum\nlibrary lends\nbooks.</p>\n\n\n<p>The museum opened its doors to the public in 1902.</p>\n"
        "</body>\n</html>\n")
PAGES = ["Contents\n1 Introduction ........ 2",
         "The archive was founded in 1931 by the city council of\nRotterdam after the great fire.",
         "The document vault is kept at a constant tempera-\nture of twelve degrees Celsius all year round."]


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    root = tmp_path_factory.mktemp("editor")
    corpus = root / "corpus"
    corpus.mkdir()
    (corpus / "museum.html").write_text(HTML, encoding="utf-8")
    (corpus / "archive.pdf").write_bytes(make_pdf(PAGES))
    qa.build_index(corpus, root / "embeddings", export=False)
    return corpus, root / "embeddings"


def fake_editor(tmp_path):
    record = tmp_path / "editor-args.json"
    script = tmp_path / "fake-editor"
    # Records its arguments and the file's text (the extracted text is deleted after it exits).
    script.write_text(f"#!{sys.executable}\nimport json, sys\n"
                      f"open({str(record)!r}, 'w').write(json.dumps([sys.argv[1:], open(sys.argv[-1]).read()]))\n")
    script.chmod(0o755)
    return str(script), record


async def press_e(small, tmp_path, monkeypatch, query: str, path: str):
    editor, record = fake_editor(tmp_path)
    monkeypatch.setenv("EDITOR", editor)
    monkeypatch.delenv("VISUAL", raising=False)
    corpus, index_dir = small
    app = QAApp(Settings(corpus=corpus, index_dir=index_dir), export_dir=tmp_path, cursor_blink=False)
    async with app.run_test(size=(120, 36)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        hit = next(h for h in app.index.search(query, k=5) if h.path == path)
        await app.push_screen(DocumentScreen(app.index, hit))
        await pilot.pause()
        await pilot.press("e")  # headless: cannot suspend, says where to go instead
        await pilot.pause()
        refused = [n.message for n in app._notifications]
        monkeypatch.setattr(type(app), "suspend", lambda self: contextlib.nullcontext())
        await pilot.press("e")
        await pilot.pause()
        opened = [n.message for n in app._notifications]
    return hit, json.loads(record.read_text()), refused, opened


async def test_e_on_html_opens_the_source_line_of_the_cited_text(small, tmp_path, monkeypatch):
    hit, (args, text), refused, opened = await press_e(small, tmp_path, monkeypatch, "museum opened doors 1902", "museum.html")
    source = HTML.split("\n")
    line = int(args[0].lstrip("+"))
    first = hit.text.split("\n")[0]
    assert first in source[line - 1] and line != hit.start_line  # text line 1 is source line 4
    assert args[1] == str(small[0] / "museum.html")
    assert any(f"source line {line}" in m for m in refused)
    assert any(m.startswith("Opened") and f"source line {line}" in m for m in opened)


async def test_e_on_pdf_opens_the_extracted_text_and_names_the_page(small, tmp_path, monkeypatch):
    hit, (args, text), refused, opened = await press_e(small, tmp_path, monkeypatch, "vault temperature degrees", "archive.pdf")
    assert args[0] == f"+{hit.start_line}" and args[1].endswith("archive.pdf.txt")
    assert text.split("\n")[hit.start_line - 1].startswith("The document vault")
    assert not Path(args[1]).exists()  # qa removed the copy it made
    assert any("archive.pdf, page 3" in m for m in refused)
    assert any("text qa extracted from" in m and "page 3" in m for m in opened)
