"""Document -> chunks. Pure and deterministic.

Structure first: the text is cut into blocks (paragraphs, headings, table rows), blocks into
sentences; sentences are merged up to a token budget measured with the model's own tokenizer,
never across a heading, with a small overlap between neighbouring chunks of one section. Every
chunk is a contiguous span of the document, so ``doc.text[start:end] == chunk.text``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

from qa import markdown
from qa.layout import FRONT, MARKDOWN, MARKUP, PDF, PLAIN, TEXT, continues, layout_of, line_roles
from qa.types import Chunk, Document

# Counts word pieces of each text, without the [CLS]/[SEP] the model adds.
TokenCounter = Callable[[Sequence[str]], list[int]]


@dataclass(frozen=True)
class ChunkerSettings:
    max_tokens: int = 256  # the model's max sequence length: the hard limit, specials included
    target_tokens: int = 200  # merge sentences up to this many (prefix and specials included)
    overlap_tokens: int = 40  # carry the previous sentence over when it is at most this long
    special_tokens: int = 2  # [CLS] and [SEP]
    # The title and heading path repeated before each chunk are cut to this many tokens: an
    # unbounded heading (a 230-piece title) left no room for text and chunking never ended.
    context_tokens: int = 48
    version: int = 3  # bump when the algorithm changes, so old indexes are rebuilt

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True)
class _Unit:
    """A sentence, a table row or a heading: the smallest piece a chunk is built from."""

    start: int
    end: int
    heading: tuple[int, str] | None = None  # (level, title) when the unit is a heading
    boundary_before: bool = False  # a chunk must not reach back across this unit's start


_WIKI = re.compile(r"^(=+)\s*(.+?)\s*=+$")
_MD = re.compile(r"^(#{1,6})\s+(.+?)\s*#*$")
# A sentence ends at . ! ? (and closing quotes/brackets) followed by space and a capital, digit
# or opening quote. Abbreviations like "Mr." split wrongly now and then; chunks stay contiguous.
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"”’')\]]*\s+(?=[\"“‘(\[]?[A-Z0-9])")
_TERMINAL = tuple(".!?:;,\"”’)…")


_LINE_ENDS = "\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"  # what str.splitlines splits at
_SET_ASIDE = (FRONT, MARKUP)  # lines that are not text at all: they separate blocks

# A block: (start, end, [(line_start, line_end, role), ...]), blank and set-aside lines removed.
Block = tuple[int, int, list[tuple[int, int, str]]]


def _blocks(text: str, layout: str = PLAIN) -> list[Block]:
    """Paragraph blocks; blank lines and lines that are not text (front matter, markup lines,
    see ``qa.layout``) separate them."""
    raw = text.splitlines(keepends=True)
    roles = line_roles([line.rstrip(_LINE_ENDS) for line in raw], layout)
    blocks: list[Block] = []
    current: list[tuple[int, int, str]] = []
    pos = 0
    for line, role in zip(raw, roles, strict=True):
        stripped = line.strip()
        if stripped and role not in _SET_ASIDE:
            lead = len(line) - len(line.lstrip())
            current.append((pos + lead, pos + lead + len(stripped), role))
        elif current:
            blocks.append((current[0][0], current[-1][1], current))
            current = []
        pos += len(line)
    if current:
        blocks.append((current[0][0], current[-1][1], current))
    return blocks


def _heading_of(line: str, is_first: bool, has_next: bool) -> tuple[int, str] | None:
    match = _WIKI.match(line)
    if match:
        return len(match.group(1)), match.group(2).strip()
    match = _MD.match(line)
    if match:
        return len(match.group(1)), match.group(2).strip()
    # Plain-text heading: a short line standing alone, with no sentence punctuation, that starts
    # with a letter and is followed by more text ("Struggles and successes").
    words = line.split()
    if (
        has_next
        and 0 < len(words) <= 8
        and len(line) <= 70
        and line[0].isalpha()
        and line[0].isupper()
        and not line.endswith(_TERMINAL)
    ):
        return (1 if is_first else 2), line
    return None


def sentence_spans(text: str, start: int, end: int) -> list[tuple[int, int]]:
    spans = []
    cursor = start
    for match in _SENTENCE_END.finditer(text, start, end):
        spans.append((cursor, match.start()))
        cursor = match.end()
    spans.append((cursor, end))
    return [(s, e) for s, e in spans if text[s:e].strip()]


@dataclass(frozen=True)
class Piece:
    """A unit of a block: a sentence, a row, a line of code or a heading (``heading`` set).
    ``quotable`` is False for what can never be an answer sentence (code, TOC lines, headings,
    a PDF line that does not end like a sentence)."""

    start: int
    end: int
    quotable: bool = True
    heading: tuple[int, str] | None = None


def _block_units(text: str, lines: list[tuple[int, int, str]], layout: str = PLAIN) -> list[Piece]:
    """Plain text: a block of many short lines (a table, a list) is cut per line, prose per
    sentence. Markdown and PDF: hard-wrapped lines are joined into sentences (``continues``);
    headings, code and TOC lines are units of their own."""
    if layout == PLAIN:
        if len(lines) > 2 and max(e - s for s, e, _ in lines) < 200:
            return [Piece(s, e) for s, e, _ in lines]
        return [Piece(*span) for s, e, _ in lines for span in sentence_spans(text, s, e)]
    out: list[Piece] = []
    group: list[tuple[int, int]] = []

    def flush() -> None:
        for s, e in sentence_spans(text, group[0][0], group[-1][1]) if group else ():
            ends_well = layout != PDF or text[s:e].rstrip().endswith(_SENTENCE_CLOSE)
            out.append(Piece(s, e, ends_well))
        group.clear()

    for s, e, role in lines:
        line = text[s:e]
        heading = _MD.match(line) if role == TEXT else None
        if role != TEXT or heading:
            flush()
            title = heading and (len(heading.group(1)), _heading_title(heading.group(2), layout))
            out.append(Piece(s, e, False, title or None))
            continue
        if group and not continues(text[group[-1][0]:group[-1][1]], line, layout):
            flush()
        group.append((s, e))
    flush()
    return out


_SENTENCE_CLOSE = tuple(".!?:;\"”’)")


def _heading_title(title: str, layout: str) -> str:
    return markdown.heading_title(title.strip()) if layout == MARKDOWN else title.strip()


def passage_units(text: str, layout: str = PLAIN) -> list[Piece]:
    """The units of a passage (sentences, rows, headings, code lines), never crossing a line
    break between paragraphs, cut as the chunker cuts them. Used to pick answer sentences."""
    return [piece for _, _, lines in _blocks(text, layout) for piece in _block_units(text, lines, layout)]


def text_units(text: str, layout: str = PLAIN) -> list[tuple[int, int]]:
    """Sentence-like spans of ``text`` (sentences, table rows, headings)."""
    return [(p.start, p.end) for p in passage_units(text, layout)]


def _boilerplate(text: str, blocks: list[Block]) -> set[int]:
    """Start offsets of single-line blocks repeated within the file ("Subscribe to our channel").

    A short standalone line that recurs in one file is page furniture (bylines, calls to
    subscribe), not content: every occurrence is dropped so it neither fills chunks nor poses as
    a heading.
    """
    def key(start: int, end: int) -> str:
        return " ".join(text[start:end].lower().split())

    singles = [(s, e) for s, e, lines in blocks if len(lines) == 1 and e - s <= 80]
    counts = Counter(key(s, e) for s, e in singles)
    return {s for s, e in singles if counts[key(s, e)] >= 2}


def _units(doc: Document) -> list[_Unit]:
    text = doc.text
    layout = layout_of(doc.path, bool(doc.page_starts))
    blocks = _blocks(text, layout)
    dropped = _boilerplate(text, blocks)
    # A chunk never spans two PDF pages, so a citation's page is the page of its sentence.
    page_starts = list(doc.page_starts[1:])
    units: list[_Unit] = []
    boundary = False
    for index, (start, end, lines) in enumerate(blocks):
        if page_starts and start >= page_starts[0]:
            while page_starts and start >= page_starts[0]:
                page_starts.pop(0)
            boundary = True
        if start in dropped:
            boundary = True  # never build a chunk across removed furniture
            continue
        if len(lines) == 1 and lines[0][2] == TEXT:
            heading = _heading_of(text[start:end], index == 0, index + 1 < len(blocks))
            if heading:
                units.append(_Unit(start, end, (heading[0], _heading_title(heading[1], layout)), True))
                boundary = False
                continue
        for piece in _block_units(text, lines, layout):
            units.append(_Unit(piece.start, piece.end, piece.heading, boundary or piece.heading is not None))
            boundary = False
    return units


def _split_long(text: str, start: int, end: int, budget: int, count: TokenCounter) -> list[tuple[int, int]]:
    """Cut one over-long sentence at word boundaries into pieces of at most ``budget`` tokens."""
    words = [(m.start(), m.end()) for m in re.finditer(r"\S+", text[start:end])]
    sizes = count([text[start + s : start + e] for s, e in words])
    pieces: list[tuple[int, int]] = []
    piece_start: int | None = None
    piece_end = 0
    total = 0
    for (s, e), size in zip(words, sizes, strict=True):
        if piece_start is not None and total + size > budget:
            pieces.append((start + piece_start, start + piece_end))
            piece_start, total = None, 0
        if piece_start is None:
            piece_start = s
        if size > budget:  # a single "word" longer than the budget (e.g. a base64 blob)
            step = max(1, (e - s) * budget // size // 2)
            for cut in range(s, e, step):
                pieces.append((start + cut, start + min(e, cut + step)))
            piece_start, total = None, 0
            continue
        piece_end = e
        total += size
    if piece_start is not None:
        pieces.append((start + piece_start, start + piece_end))
    return pieces


def _fit(text: str, fits: Callable[[str], bool]) -> str:
    """``text`` cut (at a word boundary when it has any) to the longest prefix found by halving
    that ``fits``; "" when nothing does. At most ~2·log2(len) checks."""
    if fits(text):
        return text
    keep = len(text)
    while keep > 0:
        keep //= 2
        cut = text[:keep]
        space = cut.rfind(" ")
        cut = (cut[:space] if space > 0 else cut).rstrip()
        if cut and fits(cut + "…"):
            return cut + "…"
    return ""


def chunk_document(doc: Document, count: TokenCounter, settings: ChunkerSettings | None = None) -> list[Chunk]:
    """Cut ``doc`` into chunks whose embedding text fits the model (see module docstring)."""
    settings = settings or ChunkerSettings()
    text = doc.text
    units = _units(doc)
    if not units:
        return []
    sizes = count([text[u.start : u.end] for u in units])

    chunks: list[Chunk] = []
    headings: list[tuple[int, str]] = []
    prefix_cache: dict[tuple[str, ...], int] = {}

    def prefix_tokens(path: tuple[str, ...], title: str | None = None) -> int:
        key = (title or doc.title, *path)
        if key not in prefix_cache:
            probe = Chunk(doc.path, key[0], path, "", 0, 0, 0, 0)
            prefix_cache[key] = count([probe.embedding_text()])[0] + 1  # +1: the newline
        return prefix_cache[key]

    shown_title = _fit(doc.title, lambda t: prefix_tokens((), t) <= settings.context_tokens)
    path_cache: dict[tuple[str, ...], tuple[str, ...]] = {}

    def heading_path() -> tuple[str, ...]:
        """The heading path, cut to the context budget: outer headings go first, then the
        innermost one is shortened. The budget is what guarantees room for text."""
        path = tuple(t for _, t in headings if t != doc.title)
        if path not in path_cache:
            fitted = path
            while len(fitted) > 1 and prefix_tokens(fitted, shown_title) > settings.context_tokens:
                fitted = fitted[1:]
            if fitted and prefix_tokens(fitted, shown_title) > settings.context_tokens:
                fitted = (_fit(fitted[0], lambda h: prefix_tokens((h,), shown_title) <= settings.context_tokens),)
                fitted = tuple(h for h in fitted if h)
            path_cache[path] = fitted
        return path_cache[path]

    def emit(members: list[tuple[int, int]], path: tuple[str, ...]) -> None:
        start, end = members[0][0], members[-1][1]
        chunks.append(
            Chunk(
                path=doc.path,
                title=shown_title,
                heading_path=path,
                text=text[start:end],
                start_char=start,
                end_char=end,
                start_line=doc.line_of(start),
                end_line=doc.line_of(max(start, end - 1)),
                page=doc.page_of(start),
            )
        )

    current: list[tuple[int, int]] = []  # spans in the chunk being built
    current_sizes: list[int] = []
    chunk_path: tuple[str, ...] = ()
    for unit, size in zip(units, sizes, strict=True):
        if unit.heading:
            level, heading = unit.heading
            headings[:] = [h for h in headings if h[0] < level] + [(level, heading)]
        path = heading_path()
        room = settings.target_tokens - settings.special_tokens - prefix_tokens(path, shown_title)
        if unit.boundary_before and current:
            emit(current, chunk_path)
            current, current_sizes = [], []
        pieces = [(unit.start, unit.end)]
        piece_sizes = [size]
        if size > room:
            pieces = _split_long(text, unit.start, unit.end, room, count)
            piece_sizes = count([text[s:e] for s, e in pieces])
        for piece, piece_size in zip(pieces, piece_sizes, strict=True):
            if current and sum(current_sizes) + piece_size > room:
                emit(current, chunk_path)
                last, last_size = current[-1], current_sizes[-1]
                current, current_sizes = [], []
                # Overlap: a short last sentence is repeated so no answer falls between chunks.
                if last_size <= settings.overlap_tokens and last_size + piece_size <= room:
                    current, current_sizes = [last], [last_size]
            if not current:
                chunk_path = path
            current.append(piece)
            current_sizes.append(piece_size)
    if current:
        emit(current, chunk_path)
    return _enforce_limit(chunks, doc, count, settings)


def _enforce_limit(chunks: list[Chunk], doc: Document, count: TokenCounter, settings: ChunkerSettings) -> list[Chunk]:
    """Exact check with the real tokenizer: summed word-piece counts can differ from the count of
    the joined text by a token or two, and truncation by the model would be silent. Any chunk
    over the limit is halved at a word boundary until it fits. Every pass halves the pieces, and a
    piece of one character is kept as it is, so the loop ends after log2(longest chunk) passes
    whatever the tokenizer says (the context before each chunk is bounded, see context_tokens)."""
    limit = settings.max_tokens - settings.special_tokens
    result: list[Chunk] = []
    pending = list(chunks)
    while pending:
        batch, pending = pending, []
        sizes = count([c.embedding_text() for c in batch])
        for chunk, size in zip(batch, sizes, strict=True):
            if size <= limit or chunk.end_char - chunk.start_char <= 1:
                result.append(chunk)
                continue
            mid = doc.text.rfind(" ", chunk.start_char, (chunk.start_char + chunk.end_char) // 2 + 1)
            if mid <= chunk.start_char:
                mid = (chunk.start_char + chunk.end_char) // 2
            for s, e in ((chunk.start_char, mid), (mid, chunk.end_char)):
                piece = doc.text[s:e]
                lead = len(piece) - len(piece.lstrip())
                s, e = s + lead, s + len(piece.rstrip())
                if e > s:
                    pending.append(
                        Chunk(chunk.path, chunk.title, chunk.heading_path, doc.text[s:e], s, e,
                              doc.line_of(s), doc.line_of(e - 1), doc.page_of(s))
                    )
    return sorted(result, key=lambda c: (c.start_char, c.end_char))
