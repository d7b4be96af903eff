"""HTML -> the text a reader sees, one line per block element. Part of loading.

Built on the standard library's tolerant tokenizer (``html.parser``: never raises on broken
markup) with the few tree rules of HTML5 that decide what is visible: the head ends where the
body starts even without ``</head>``; void elements (``<img>``, ``<input>``) have no end tag;
an unclosed ``<p>``/``<li>``/``<td>`` is closed by the next one; a stray end tag is ignored.
Hidden subtrees are dropped: ``script``, ``style``, ``template``, ``noscript``, and any element
with the ``hidden`` attribute, ``aria-hidden="true"`` or an inline ``display:none`` /
``visibility:hidden``. Nesting is kept on an explicit stack, so depth cannot exhaust recursion.
"""

from __future__ import annotations

import re
from collections import Counter
from html.parser import HTMLParser

TITLE_CHARS = 120  # as for titles taken from a text file's first line

_BLOCKS = frozenset({
    "p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "section", "article", "header",
    "footer", "pre", "blockquote", "table", "ul", "ol", "dl", "dd", "dt", "main", "nav", "aside",
    "figure", "figcaption", "address", "hr", "form", "fieldset", "details", "summary", "caption",
})
_HIDDEN_TAGS = frozenset({"script", "style", "noscript", "template", "head", "iframe", "object"})
_VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "keygen", "link",
                   "meta", "param", "source", "track", "wbr"})
# Elements that may appear in <head>; any other start tag (or visible text) begins the body.
_HEAD_CONTENT = frozenset({"meta", "link", "title", "style", "script", "base", "noscript", "template"})
# A start tag of one of these closes an open <p> (HTML5 "close a p element").
_CLOSES_P = frozenset({"address", "article", "aside", "blockquote", "details", "div", "dl",
                       "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3",
                       "h4", "h5", "h6", "header", "hr", "main", "nav", "ol", "p", "pre",
                       "section", "table", "ul"})
# An open element of the key's kind is closed by a new one, up to (not past) the container.
_SIBLINGS = {"li": ({"li"}, {"ul", "ol"}), "dt": ({"dt", "dd"}, {"dl"}), "dd": ({"dt", "dd"}, {"dl"}),
             "td": ({"td", "th"}, {"tr", "table"}), "th": ({"td", "th"}, {"tr", "table"}),
             "tr": ({"tr", "td", "th"}, {"table"}), "option": ({"option"}, {"select"})}
_INVISIBLE_STYLE = re.compile(r"(?:^|;)\s*(?:display\s*:\s*none|visibility\s*:\s*hidden)\b", re.I)


def _hides(tag: str, attrs: list[tuple[str, str | None]]) -> bool:
    if tag in _HIDDEN_TAGS:
        return True
    for name, value in attrs:
        if name == "hidden":
            return True
        if name == "aria-hidden" and (value or "").strip().lower() == "true":
            return True
        if name == "style" and value and _INVISIBLE_STYLE.search(value):
            return True
    return False


class _VisibleText(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.sources: list[int] = []  # the source line each part of ``parts`` comes from
        self.title_parts: list[str] = []
        self._stack: list[tuple[str, bool]] = []  # open elements: (tag, hides its subtree)
        self._hiding = 0  # how many open elements hide their subtree
        self._open: Counter[str] = Counter()  # open elements by tag: most lookups end here
        self._in_title = False
        self._head_open = False

    def _emit(self, part: str) -> None:
        self.parts.append(part)
        self.sources.append(self.getpos()[0])

    def _push(self, tag: str, hidden: bool) -> None:
        self._stack.append((tag, hidden))
        self._hiding += hidden
        self._open[tag] += 1

    def _pop_through(self, index: int) -> None:
        """Close the element at ``index`` and everything opened inside it."""
        while len(self._stack) > index:
            tag, hidden = self._stack.pop()
            self._hiding -= hidden
            self._open[tag] -= 1
            if tag == "head":
                self._head_open = False
            if tag in _BLOCKS:
                self._emit("\n\n")

    def _last(self, tags: set[str] | frozenset[str], stop: set[str] | frozenset[str] = frozenset()) -> int:
        if not any(self._open[tag] for tag in tags):
            return -1
        for index in range(len(self._stack) - 1, -1, -1):
            tag = self._stack[index][0]
            if tag in tags:
                return index
            if tag in stop:
                break
        return -1

    def _end_head(self) -> None:
        index = self._last({"head"})
        if index >= 0:
            self._pop_through(index)
        self._head_open = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._head_open and tag not in _HEAD_CONTENT:
            self._end_head()  # a page without </head>: its body starts here
        if tag == "title":
            # The page's title: the first one, in the head or with no head at all.
            self._in_title = not self.title_parts and (not self._hiding or self._stack[-1][0] == "head")
            return
        if tag in _CLOSES_P and (index := self._last({"p"}, {"table", "button"})) >= 0:
            self._pop_through(index)
        if tag in _SIBLINGS:
            kinds, container = _SIBLINGS[tag]
            if (index := self._last(kinds, container)) >= 0:
                self._pop_through(index)
        if tag in _BLOCKS:
            self._emit("\n\n")
        if tag in _VOID:
            return
        if tag == "head":
            self._head_open = True
        self._push(tag, _hides(tag, attrs))
        if tag in {"h1", "h2", "h3", "h4", "h5", "h6"} and not self._hiding:
            # Marked in Markdown style so the chunker sees the document's structure.
            self._emit("#" * int(tag[1]) + " ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID and tag != "title":
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
            return
        index = self._last({tag})
        if index >= 0:  # a stray end tag closes nothing
            self._pop_through(index)

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title_parts.append(data)
            return
        if self._head_open and data.strip() and self._stack and self._stack[-1][0] == "head":
            self._end_head()  # text directly in <head> begins the body, as in a browser
        if not self._hiding:
            self._emit(re.sub(r"\s+", " ", data))

    def text(self) -> tuple[str, tuple[int, ...]]:
        """The text, one line per block with at most one blank line between blocks, and the
        source line each of its lines starts at (where its first visible text came from)."""
        lines: list[tuple[str, int | None]] = []
        current: list[str] = []
        source: int | None = None
        for part, line in zip(self.parts, self.sources, strict=True):
            if "\n" in part:  # only block breaks hold newlines: text is whitespace-collapsed
                lines.append(("".join(current).strip(), source))
                lines += [("", None)] * (part.count("\n") - 1)
                current, source = [], None
                continue
            if source is None and part.strip():
                source = line
            current.append(part)
        lines.append(("".join(current).strip(), source))
        kept: list[tuple[str, int | None]] = []
        for text, origin in lines:
            if text or (kept and kept[-1][0]):  # no leading blanks, no run of blanks
                kept.append((text, origin))
        while kept and not kept[-1][0]:
            kept.pop()
        if not kept:
            return "\n", (1,)
        sources: list[int] = []
        for _, origin in kept:
            sources.append(origin if origin is not None else (sources[-1] if sources else 1))
        return "\n".join(text for text, _ in kept) + "\n", tuple(sources)

    def title(self) -> str | None:
        title = " ".join("".join(self.title_parts).split())
        return title[:TITLE_CHARS].strip() or None


def read_html(markup: str) -> tuple[str, str | None, tuple[int, ...]]:
    """The visible text of an HTML page (see module docstring), its ``<title>``, and for each
    line of the text the line of ``markup`` it comes from (so an editor can be sent there)."""
    parser = _VisibleText()
    parser.feed(markup)
    parser.close()
    text, sources = parser.text()
    return text, parser.title(), sources


def visible_text(markup: str) -> tuple[str, str | None]:
    """The visible text of an HTML page and its ``<title>``."""
    text, title, _ = read_html(markup)
    return text, title
