from __future__ import annotations

import os

import pytest

from qa import loading
from qa.errors import CorpusError

from ..pdf_maker import make_pdf


def load_one(tmp_path, name: str, data: bytes):
    (tmp_path / name).write_bytes(data)
    (source,) = [s for s in loading.scan(tmp_path) if s.path == name]
    return loading.load(source)[0]


def test_title_from_wiki_heading_first_line_or_file_name(tmp_path):
    assert load_one(tmp_path, "a.txt", b"= Pyongyang Declaration =\n\nBody.\n").title == "Pyongyang Declaration"
    assert load_one(tmp_path, "b.md", b"# Guide\n\nBody.\n").title == "Guide"
    assert load_one(tmp_path, "c.txt", b"\n\nFirst line here\nmore\n").title == "First line here"


def test_line_map(tmp_path):
    doc = load_one(tmp_path, "a.txt", b"one\ntwo\r\nthree\n")
    assert [doc.line_of(doc.text.index(w)) for w in ("one", "two", "three")] == [1, 2, 3]


@pytest.mark.parametrize("encoding, text", [
    ("cp1252", "Caf\u00e9 cr\u00e8me \u2013 \u201cquoted\u201d na\u00efve r\u00e9sum\u00e9, \u20ac5. " * 5),
    ("utf-16", "UTF-16 text with a byte-order mark: \u00e9\u00e8\u00ea \u4e2d\u6587. " * 5),
    ("utf-8-sig", "UTF-8 with BOM \u00e9. " * 5),
])
def test_text_encodings_are_detected(tmp_path, encoding, text):
    doc = load_one(tmp_path, "enc.txt", text.encode(encoding))
    assert doc.text == text


@pytest.mark.parametrize("data, reason", [
    (b"", "empty"),
    (b"   \n\n", "empty"),
    (b"text\x00with\x00nul bytes", "binary"),
    (bytes(range(256)) * 20, "binary"),
])
def test_unreadable_files_are_skipped_with_a_reason(tmp_path, data, reason):
    with pytest.raises(loading.SkipFile, match=reason):
        load_one(tmp_path, "bad.txt", data)


def test_html_text_and_title(tmp_path):
    html = b"<html><head><title>Page T</title><style>p{}</style><script>evil()</script></head><body><h1>Main</h1><p>First para.</p><p>Second &amp; last.</p></body></html>"
    doc = load_one(tmp_path, "p.html", html)
    assert doc.title == "Page T"
    assert "evil" not in doc.text and "p{}" not in doc.text
    assert "# Main" in doc.text and "Second & last." in doc.text


def test_pdf_pages_are_kept(tmp_path):
    doc = load_one(tmp_path, "p.pdf", make_pdf(["Page one says hello.", "Page two says goodbye."]))
    assert doc.page_of(doc.text.index("hello")) == 1
    assert doc.page_of(doc.text.index("goodbye")) == 2


def test_pdf_without_text_layer_and_corrupt_pdf_are_skipped(tmp_path):
    with pytest.raises(loading.SkipFile, match="no text layer"):
        load_one(tmp_path, "scan.pdf", make_pdf([None, None]))
    with pytest.raises(loading.SkipFile, match="corrupt PDF"):
        load_one(tmp_path, "broken.pdf", b"%PDF-1.4\n1 0 obj << /Type /Catalog" + os.urandom(200))


def test_scan_skips_links_outside_the_corpus_and_survives_loops(tmp_path):
    corpus = tmp_path / "corpus"
    (corpus / "sub").mkdir(parents=True)
    (corpus / "a.txt").write_text("inside")
    outside = tmp_path / "secret.txt"
    outside.write_text("outside")
    (corpus / "link-out.txt").symlink_to(outside)
    (corpus / "link-in.txt").symlink_to(corpus / "a.txt")
    (corpus / "sub" / "loop").symlink_to(corpus, target_is_directory=True)
    paths = [s.path for s in loading.scan(corpus)]
    assert paths == ["a.txt", "link-in.txt"]


def test_missing_corpus_is_a_clear_error(tmp_path):
    with pytest.raises(CorpusError, match="does not exist"):
        loading.scan(tmp_path / "nope")


def test_large_file_is_capped_with_a_warning(tmp_path, monkeypatch):
    monkeypatch.setattr(loading, "MAX_FILE_BYTES", 1000)
    (tmp_path / "big.txt").write_bytes(b"word " * 1000)
    (source,) = loading.scan(tmp_path)
    doc, warnings = loading.load(source)
    assert len(doc.text) == 1000
    assert warnings and "only the start" in warnings[0]


@pytest.mark.parametrize("cap", [1000, 1001, 1002, 1003])
@pytest.mark.parametrize("text, encoding", [("é€😀a" * 400, "utf-8"), ("é€a" * 400, "utf-16")], ids=["utf-8", "utf-16"])
def test_capping_never_splits_a_character(tmp_path, monkeypatch, cap, text, encoding):
    # A cut inside a multi-byte character used to make valid UTF-8 "undecodable" (legacy
    # detection then produced mojibake or a skip).
    monkeypatch.setattr(loading, "MAX_FILE_BYTES", cap)
    (tmp_path / "big.txt").write_bytes(text.encode(encoding))
    (source,) = loading.scan(tmp_path)
    doc, warnings = loading.load(source)
    assert warnings and text.startswith(doc.text) and len(doc.text) > 200


def test_large_pdf_is_not_cut_by_the_byte_cap(tmp_path, monkeypatch):
    data = make_pdf([f"Page {i} text about topic {i}." for i in range(40)])
    monkeypatch.setattr(loading, "MAX_FILE_BYTES", len(data) // 3)  # cutting bytes would corrupt it
    (tmp_path / "big.pdf").write_bytes(data)
    (source,) = loading.scan(tmp_path)
    doc, warnings = loading.load(source)
    assert "Page 0 text" in doc.text and doc.page_of(doc.text.index("Page 0 text")) == 1
    assert len(doc.text) <= len(data) // 3 + 200  # the extracted text is what is capped


def test_file_vanishing_between_scan_and_read_is_skipped(tmp_path):
    (tmp_path / "gone.txt").write_text("soon deleted")
    (source,) = loading.scan(tmp_path)
    (tmp_path / "gone.txt").unlink()
    with pytest.raises(loading.SkipFile, match="vanished between scan and read"):
        loading.load(source)
