"""A corpus of hostile file names and contents (issue 14, items 3, 4 and 9): whatever the
filesystem allows is indexed or skipped with a named reason, never hangs, never makes the index
unopenable, and is printed without raw newlines or control characters."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

import qa
from qa import loading
from qa.cli import cli
from qa.html_reader import visible_text

# name -> content. Names as bytes: some are not UTF-8.
HOSTILE_NAMES: dict[bytes, bytes] = {
    b"back\\slash.txt": b"The walrus backslash file talks about the aurora over Tromso.\n",
    b"x\\..\\..\\etc-passwd.txt": b"A walrus file whose name pretends to climb out of the corpus.\n",
    b"new\nline.txt": b"A walrus file whose name holds a newline character.\n",
    b"esc\x1b[31mred.txt": b"A walrus file whose name holds an escape sequence.\n",
    b"bell\x07tab\t.md": b"# Bell\n\nA walrus file whose name rings the terminal bell.\n",
    b"rtl\xe2\x80\xaeevil.txt": b"A walrus file whose name holds a right-to-left override.\n",
    b"latin1-\xe9t\xe9.txt": b"A walrus file whose name is Latin-1, not UTF-8.\n",
    b"-rf.txt": b"A walrus file whose name starts with a dash.\n",
    b" spaced .txt": b"A walrus file whose name has spaces around it.\n",
    "日本語の名前.md".encode(): "# 日本\n\nA walrus file with a Japanese name.\n".encode(),
}


def make_hostile_corpus(root: Path) -> Path:
    corpus = root / "corpus"
    corpus.mkdir()
    base = os.fsencode(corpus)
    for name, content in HOSTILE_NAMES.items():
        with open(base + b"/" + name, "wb") as handle:
            handle.write(content)
    os.mkfifo(corpus / "fifo.txt")  # a reader that opens it would block forever
    os.symlink("loop-b.txt", corpus / "loop-a.txt")
    os.symlink("loop-a.txt", corpus / "loop-b.txt")
    os.symlink("self.md", corpus / "self.md")
    os.symlink("nowhere.txt", corpus / "dangling.txt")
    return corpus


EXPECTED_SKIPS = {
    "fifo.txt": "not a regular file",
    "loop-a.txt": "symbolic link loop",
    "loop-b.txt": "symbolic link loop",
    "self.md": "symbolic link loop",
    "dangling.txt": "broken symbolic link",
    "latin1-\\xe9t\\xe9.txt": "not valid UTF-8",
}


def test_scan_names_every_unreadable_file_and_reads_only_regular_files(tmp_path):
    corpus = make_hostile_corpus(tmp_path)
    reasons = {}
    read = set()
    for source in loading.scan(corpus):
        try:
            loading.load(source)
            read.add(source.path)
        except loading.SkipFile as exc:
            reasons[source.path] = str(exc)
    for path, reason in EXPECTED_SKIPS.items():
        assert reason in reasons.pop(path)
    assert not reasons
    assert len(read) == len(HOSTILE_NAMES) - 1  # all but the Latin-1 name


@pytest.fixture(scope="module")
def hostile_index(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    corpus = make_hostile_corpus(root)
    report = qa.build_index(corpus, root / "index", encoder="torch", export=False)
    return corpus, root / "index", report


def test_hostile_names_index_and_the_index_opens(hostile_index):
    corpus, index_dir, report = hostile_index
    assert dict(report.skipped).keys() == EXPECTED_SKIPS.keys()
    assert "back\\slash.txt" in report.files_indexed and "x\\..\\..\\etc-passwd.txt" in report.files_indexed
    index = qa.open_index(index_dir)  # before: a backslash made it unopenable, even after --rebuild
    hit = index.search("walrus aurora Tromso", k=1)[0]
    assert hit.path == "back\\slash.txt"
    document, current = index.read_document(hit.path)
    assert current and "aurora" in document.text
    # A rebuild over the same names works too.
    qa.build_index(corpus, index_dir, rebuild=True, encoder="torch", export=False)
    assert qa.open_index(index_dir).search("walrus newline character", k=1)[0].path == "new\nline.txt"


def test_names_reach_the_terminal_without_raw_controls_or_newlines(hostile_index, tmp_path):
    corpus, index_dir, _ = hostile_index
    runner = CliRunner()
    outputs = [
        runner.invoke(cli, ["search", "walrus file whose name", "-k", "10", "--index-dir", str(index_dir)]),
        runner.invoke(cli, ["ask", "Which walrus file holds a newline character?", "--index-dir", str(index_dir)]),
        runner.invoke(cli, ["index", str(corpus), "--index-dir", str(tmp_path / "fresh"), "--encoder", "torch"]),
    ]
    for result in outputs:
        assert result.exit_code == 0, result.output
        text = result.output
        assert not any(ch in text for ch in "\x1b\x07\u202e\t"), text
        assert "new\nline" not in text
    assert "new\u240aline.txt" in outputs[0].output
    assert "skipped: fifo.txt: not a regular file" in outputs[2].output


# ---------------------------------------------------------------------------------------------
# HTML: only what a reader sees is indexed (item 9)

HIDDEN_PAGES = [
    "<script>var secret = 'HIDDENWORD';</script>",
    "<style>.HIDDENWORD { color: red }</style>",
    "<template><p>HIDDENWORD</p></template>",
    "<noscript>HIDDENWORD</noscript>",
    "<div hidden>HIDDENWORD</div>",
    "<p hidden>HIDDENWORD",  # unclosed: the next block closes it
    "<span aria-hidden=\"true\">HIDDENWORD</span>",
    "<div style=\"color: red; display: none\">HIDDENWORD</div>",
    "<div style=\"visibility:hidden\">HIDDENWORD</div>",
    "<div hidden><img src=x><input type=text><br>HIDDENWORD</div>",  # void elements inside
]


@pytest.mark.parametrize("hidden", HIDDEN_PAGES)
def test_hidden_html_text_is_not_indexed(hidden):
    page = f"<html><head><title>Page</title></head><body><p>Visible before.</p>{hidden}<div>Visible after.</div></body></html>"
    text, title = visible_text(page)
    assert "HIDDENWORD" not in text
    assert "Visible before." in text and "Visible after." in text and title == "Page"


@pytest.mark.parametrize("page", [
    "<html><head><title>No end of head</title><meta charset=utf-8><p>The body text is here.",
    "<head><title>No end of head</title>The body text is here.",
    "<title>No end of head</title><h1>Heading</h1><p>The body text is here.</p></div></span>",
    "<html><head><title>No end of head</title><body><p>The body text is here.</p></html>",
])
def test_broken_markup_still_yields_the_visible_text(page):
    text, title = visible_text(page)
    assert "The body text is here." in text and title == "No end of head"


def test_a_page_without_end_of_head_is_indexed_and_cited_at_the_right_offsets(tmp_path):
    (tmp_path / "page.html").write_text(
        "<html><head><title>Glacier notes</title><script>var x = 'ignored';</script>"
        "<p>The Perito Moreno glacier advances about two metres a day. It is in Patagonia.</p>")
    source = loading.scan(tmp_path)[0]
    document, _ = loading.load(source)  # before: skipped as "no text after decoding"
    assert document.title == "Glacier notes" and "ignored" not in document.text
    start = document.text.index("two metres")
    assert document.text[start:start + 10] == "two metres"


def test_deeply_nested_html_is_read_without_recursion(tmp_path):
    page = "<div>" * 200_000 + "<p>Deep text." + "</div>" * 200_000
    text, _ = visible_text(page)
    assert text.strip() == "Deep text."


def test_a_huge_html_title_is_cut(tmp_path):
    text, title = visible_text("<title>" + "word " * 5000 + "</title><p>Body.")
    assert title is not None and len(title) <= 120 and text == "Body.\n"
