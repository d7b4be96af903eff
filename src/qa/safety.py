"""Document text is untrusted. Before it reaches a terminal, every control character (C0, C1,
DEL: the start of ESC/CSI/OSC sequences and BEL) and every bidirectional override is replaced by
a visible stand-in, so a document can neither style, move, retitle nor read the terminal
(OSC 52), nor reorder what the user reads. Markup is never interpreted: the TUI renders text as
plain ``rich.text.Text``, the CLI prints plain strings.
"""

from __future__ import annotations

import json
import re
from typing import Any

# Controls except tab and newline; DEL; C1; bidi embeddings/overrides/isolates; line/para seps.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f\x80-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]")


def _visible(match: re.Match[str]) -> str:
    ch = match.group()
    code = ord(ch)
    if code < 0x20:
        return chr(0x2400 + code)  # the Unicode "control picture": ␛ for ESC, ␇ for BEL
    if code == 0x7F:
        return "\u2421"  # ␡
    return f"<U+{code:04X}>"


def printable(text: str) -> str:
    """``text`` with every unsafe character made visible (see module docstring)."""
    return _UNSAFE.sub(_visible, text)


def printable_line(text: str) -> str:
    """``printable(text)`` kept on one line: newlines and tabs become visible too (␊, ␉). For
    names (file paths, titles) printed inside a line, where a raw newline could forge output."""
    return printable(text).replace("\n", "\u240a").replace("\t", "\u2409")


def _aligned(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code < 0x20:
        return chr(0x2400 + code)
    return "\u2426"  # ␦: one visible character in place of DEL, C1 and bidi controls


def printable_aligned(text: str) -> str:
    """Like ``printable`` but one character for one, so char offsets stay valid (used where a
    citation's span is highlighted in the document). Newlines are kept."""
    return _UNSAFE.sub(_aligned, text)


def safe_json(data: Any) -> str:
    """JSON whose strings carry no raw control or bidi characters (they are \\u-escaped)."""
    encoded = json.dumps(data, ensure_ascii=False, indent=2)
    return _UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", encoded)


# CommonMark lets any ASCII punctuation be backslash-escaped; these are the characters that can
# start a link, image, HTML tag, code span, emphasis, table cell, heading or strikethrough.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>|~#!&])")
# A bare URL, www. address or e-mail becomes a live link in GFM and markdown-it (linkify) even
# with its punctuation escaped (linkify runs on the unescaped text): such a word goes in a code
# span, where no renderer makes links.
_LINKISH = re.compile(r"\S*(?:://|www\.|@|\bmailto:)\S*", re.I)
# At the start of a line these make a list item, thematic break, setext underline or heading.
_BLOCK_START = re.compile(r"^(?:(\d{1,9})([.)])|([-+=]))")


def _code_span(word: str) -> str:
    longest = max((len(run) for run in re.findall(r"`+", word)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if word.startswith("`") or word.endswith("`") else ""
    return f"{fence}{pad}{word}{pad}{fence}"


def markdown_literal(text: str) -> str:
    """``printable(text)`` on one line, made literal for a Markdown viewer: no links, images,
    HTML, emphasis, lists or rules made from document text (issue 14, item 10)."""
    line = " ".join(printable(text).split())
    out: list[str] = []
    cursor = 0
    for match in _LINKISH.finditer(line):
        out.append(_MARKDOWN_SPECIAL.sub(r"\\\1", line[cursor:match.start()]))
        out.append(_code_span(match.group()))
        cursor = match.end()
    out.append(_MARKDOWN_SPECIAL.sub(r"\\\1", line[cursor:]))
    escaped = "".join(out)
    return _BLOCK_START.sub(lambda m: f"{m[1]}\\{m[2]}" if m[1] else f"\\{m[3]}", escaped, count=1)
