"""How a format lays its text out: which lines are text a reader reads, which lines continue the
sentence of the line before, and what a reader sees of a span. Shared by the chunker (which
builds sentences from it) and the answer step (which quotes them), so both cut alike.

Four layouts:
* ``plain`` (.txt, extracted HTML): every line as written; a block of many short lines is a table
  or a list, one unit per line.
* ``paragraphs`` (extracted Word text, ``qa.docx_reader``): one line per paragraph, never joined;
  its sentences are units, a ``#`` line is a heading.
* ``markdown``: the file's own text, with front matter, fence markers, comments, admonition
  openers and other markup lines set aside (``qa.markdown``); hard-wrapped paragraphs and list
  items are joined into sentences; code lines stay lines and are never quoted.
* ``pdf``: extracted text, where a line break is where the page ran out of width: lines are
  joined into sentences, hyphenation at a line end is undone in what is shown, and
  table-of-contents lines (dot leaders, a section number and a page number) are set aside.
"""

from __future__ import annotations

import re

from qa import markdown

PLAIN, MARKDOWN, PDF, PARAGRAPHS = "plain", "markdown", "pdf", "paragraphs"
# Per-line roles: markdown's kinds, and TOC for a table-of-contents line.
TEXT, CODE, MARKUP, FRONT, TOC = markdown.TEXT, markdown.CODE, markdown.MARKUP, markdown.FRONT, "toc"

_TOC = re.compile(
    r"""^\s*(?:
        .*\S\s*(?:\.\s?){4,}\s*\d{1,4}                   # Introduction ........ 3
      | .*\S\s*…{2,}\s*\d{1,4}
      | (?:\d{1,2}(?:\.\d{1,2})*\.?|[IVXLC]{1,6}\.|(?:chapter|section|part|appendix)\s+\w+)
        \s+[^.!?]*?[^\d\s.!?]\s+\d{1,4}                  # 2.1 Background 12
    )\s*$""",
    re.X | re.I,
)
_LIST_ITEM = re.compile(r"^\s*(?:>\s*)*(?:[-*+\u2022\u25aa\u2013\u25cf]|\d{1,3}[.)])\s+")
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s")
_TERMINAL = tuple(".!?:;,\"”’)…-")
_HYPHEN = re.compile(r"([a-zà-ÿ])-\n\s*([a-zà-ÿ])")


def layout_of(path: str, paged: bool) -> str:
    """The layout of a document: ``paged`` is true for a PDF (its text has page starts)."""
    if paged:
        return PDF
    if path.lower().endswith(".docx"):
        return PARAGRAPHS
    return MARKDOWN if markdown.is_markdown(path) else PLAIN


def is_toc_line(line: str) -> bool:
    return bool(_TOC.match(line))


def line_roles(lines: list[str], layout: str) -> list[str]:
    """The role of each of ``lines`` (a text's lines, without line ends)."""
    if layout == MARKDOWN:
        return markdown.line_kinds(lines)
    if layout == PDF:
        return [TOC if is_toc_line(line) else TEXT for line in lines]
    return [TEXT] * len(lines)


def _table_row(line: str) -> bool:
    return line.lstrip().startswith("|") or line.count("|") >= 2


def continues(previous: str, line: str, layout: str) -> bool:
    """Whether ``line`` (stripped) carries on the sentence of ``previous`` (stripped), as a
    hard-wrapped paragraph does, instead of starting an item, a row or a heading of its own."""
    if layout in (PLAIN, PARAGRAPHS) or not previous or not line:
        return False
    if _LIST_ITEM.match(line) or _table_row(line) or _table_row(previous):
        return False
    if _HEADING.match(line) or _HEADING.match(previous):
        return False
    if layout == MARKDOWN and line.startswith(">") != previous.startswith(">"):
        return False
    # In a PDF a short line that does not end like a sentence, followed by a capital, is a
    # heading (or a caption): the next line starts something new.
    return not (layout == PDF and len(previous) < 40 and not previous.endswith(_TERMINAL) and line[:1].isupper())


def shown(raw: str, layout: str) -> str:
    """What a reader sees of the span ``raw``: markup removed (Markdown), line breaks and
    hyphenation at line ends joined (PDF); plain text as it is."""
    if layout == MARKDOWN:
        return markdown.visible(raw)
    if layout == PDF:
        return " ".join(_HYPHEN.sub(r"\1\2", raw).split())
    return raw
