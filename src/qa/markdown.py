"""Markdown as people write it (mkdocs style): the YAML front matter, which lines are markup
rather than text, and the text a reader sees in a span. Part of loading; the chunker and the
answer step use it to keep markup out of chunks' sentences and out of quotes.

The document text stays the file's own text (every offset points into the file); this module
only says what in it is markup. Front matter is read by a tiny ``key: value`` parser: it never
evaluates YAML (no tags, no anchors, no objects), so a hostile file cannot run anything.
"""

from __future__ import annotations

import re

SUFFIXES = (".md", ".markdown")

# Line kinds, one per line of the text (see ``line_kinds``).
TEXT, CODE, MARKUP, FRONT = "text", "code", "markup", "front"

_FENCE = re.compile(r"^\s{0,3}(`{3,}|~{3,})(.*)$")
_KEY = re.compile(r"^([A-Za-z_][\w-]*)\s*:\s*(.*?)\s*$")
_MARKUP_LINES = re.compile(
    r"""^\s*(?:
        (?:!!!|\?\?\?\+?)\s*[\w-]+.*             # mkdocs admonition: !!! note "Title", ??? tip
      | \{:?\s*[#.:\w][^}]*\}                    # attribute list on its own line: {: .class }
      | \[[^\]^][^\]]*\]:\s*\S+.*                # link reference definition: [id]: http://...
      | \*\[[^\]]+\]:.*                          # abbreviation definition: *[HTML]: ...
      | -{2,}8<-{2,}.*                           # snippet include: --8<-- "file.md"
      | ===\s+".*"\s*                            # content tab: === "Tab title"
      | (?:[-*_]\s*){3,}                         # horizontal rule, setext underline ---
      | =+                                       # setext underline ===
      | \|?\s*:?-{2,}:?\s*(?:\|\s*:?-{2,}:?\s*)*\|?   # table separator |---|:--:|
      | </?[A-Za-z][\w-]*(?:\s[^>]*)?/?>         # a lone HTML tag: <div markdown>, </details>
    )\s*$""",
    re.X,
)


def is_markdown(path: str) -> bool:
    return path.lower().endswith(SUFFIXES)


def front_matter(text: str) -> tuple[int, dict[str, str]]:
    """(end offset, fields) of the YAML front matter at the very start of ``text``.

    Front matter is a first line ``---`` and a closing ``---`` or ``...`` line; without the
    closing line the ``---`` is a horizontal rule and there is none: (0, {}). Fields are the
    top-level ``key: value`` lines, quotes removed; a ``>`` or ``|`` block value is its indented
    lines joined. Anything else (lists, nesting) is skipped, never evaluated.
    """
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].rstrip() != "---":
        return 0, {}
    end = len(lines[0])
    body: list[str] = []
    for line in lines[1:]:
        end += len(line)
        if line.rstrip() in ("---", "..."):
            return end, _fields(body)
        body.append(line.rstrip("\r\n"))
    return 0, {}


def _fields(lines: list[str]) -> dict[str, str]:
    fields: dict[str, str] = {}
    index = 0
    while index < len(lines):
        match = _KEY.match(lines[index])
        index += 1
        if not match:
            continue
        key, value = match.group(1), match.group(2)
        if value[:1] in (">", "|"):  # block scalar: the indented lines that follow
            block = []
            while index < len(lines) and (not lines[index].strip() or lines[index][:1] in " \t"):
                block.append(lines[index].strip())
                index += 1
            value = " ".join(b for b in block if b)
        fields.setdefault(key, _unquote(value))
    return fields


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == "'":
        return value[1:-1].replace("''", "'")
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
    return re.sub(r"\s+#.*$", "", value)  # a plain scalar ends at a comment


def line_kinds(lines: list[str]) -> list[str]:
    """The kind of each of ``lines`` (a text's lines, without line ends): FRONT for the front
    matter, CODE inside fenced code blocks, MARKUP for fence markers, HTML comments, admonition
    openers, attribute lists, link reference definitions and other lines a reader never sees as
    text, TEXT for the rest."""
    kinds = [TEXT] * len(lines)
    index = 0
    if lines and lines[0].rstrip() == "---":
        close = next((i for i in range(1, len(lines)) if lines[i].rstrip() in ("---", "...")), None)
        if close is not None:
            index = close + 1
            kinds[:index] = [FRONT] * index
    fence: str | None = None
    in_comment = False
    while index < len(lines):
        line = lines[index]
        if fence is not None:
            closing = _FENCE.match(line)
            if closing and closing.group(1)[0] == fence[0] and len(closing.group(1)) >= len(fence) and not closing.group(2).strip():
                kinds[index], fence = MARKUP, None
            else:
                kinds[index] = CODE
        elif in_comment:
            kinds[index] = MARKUP
            in_comment = "-->" not in line
        elif (opening := _FENCE.match(line)) and not (opening.group(1)[0] == "`" and "`" in opening.group(2)):
            kinds[index], fence = MARKUP, opening.group(1)
        elif line.lstrip().startswith("<!--"):
            rest = line.split("-->")[-1] if "-->" in line else ""
            in_comment = "-->" not in line
            kinds[index] = MARKUP if not rest.strip() else TEXT
        elif _MARKUP_LINES.match(line):
            kinds[index] = MARKUP
        index += 1
    return kinds


_INLINE = [
    (re.compile(r"<!--.*?-->", re.S), ""),
    (re.compile(r"!\[([^\]]*)\]\([^)]*\)"), r"\1"),  # image: its alt text
    (re.compile(r"\[([^\]]+)\]\((?:[^()]|\([^)]*\))*\)"), r"\1"),  # [text](url "title")
    (re.compile(r"\[([^\]]+)\]\[[^\]]*\]"), r"\1"),  # [text][ref]
    (re.compile(r"\[\^[^\]]+\]"), ""),  # footnote reference
    (re.compile(r"<(https?://[^>\s]+)>"), r"\1"),  # autolink
    (re.compile(r"\s*\{:?\s*[#.:][^}]*\}"), ""),  # attribute list: {: .class } {#anchor}
    (re.compile(r"</?[A-Za-z][\w-]*(?:\s[^<>]*)?/?>"), ""),  # inline HTML tags (text kept)
    (re.compile(r"(`+)(.+?)\1"), r"\2"),  # code span
    (re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1"), r"\2"),  # strong
    (re.compile(r"(?<![\w*])\*(?=\S)([^*]+?)(?<=\S)\*(?![\w*])"), r"\1"),  # emphasis *x*
    (re.compile(r"(?<![\w_])_(?=\S)([^_]+?)(?<=\S)_(?![\w_])"), r"\1"),  # emphasis _x_
    (re.compile(r"~~(?=\S)(.+?)(?<=\S)~~"), r"\1"),  # strikethrough
    (re.compile(r"==(?=\S)(.+?)(?<=\S)=="), r"\1"),  # mark (pymdownx)
    (re.compile(r"\\([\\`*_{}\[\]()#+\-.!|>~])"), r"\1"),  # backslash escapes
]
_LINE_PREFIX = re.compile(r"^\s*(?:>\s?)*(?:[-*+]\s+(?:\[[ xX]\]\s+)?|\d{1,3}[.)]\s+)?")


def visible(text: str) -> str:
    """What a reader sees of a Markdown span: inline markup removed (links show their text,
    code spans their code, emphasis its words, HTML comments nothing), list and quote markers
    dropped, wrapped lines joined with one space."""
    lines = [_LINE_PREFIX.sub("", line, count=1) for line in text.split("\n")]
    out = "\n".join(lines)
    for pattern, replacement in _INLINE:
        out = pattern.sub(replacement, out)
    return " ".join(out.split())


def heading_title(title: str) -> str:
    """A heading's text as shown: ``Install {#install}`` -> ``Install``, markup removed."""
    return visible(title) or title
