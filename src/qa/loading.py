"""Folder -> documents. One small reader per format; a file that cannot be read is skipped with
a named reason and never stops the rest of the corpus from loading."""

from __future__ import annotations

import codecs
import errno
import hashlib
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from qa import markdown
from qa.errors import CorpusError
from qa.types import Document, line_starts_of

SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm", ".pdf", ".docx")
# Text files above this are read only up to it (with a warning), so one huge file cannot exhaust
# memory. A PDF or a .docx cannot be cut (it would no longer parse): it is read whole up to
# MAX_PDF_BYTES, and its extracted text is capped at MAX_FILE_BYTES characters instead.
MAX_FILE_BYTES = 32 * 1024 * 1024
MAX_PDF_BYTES = 512 * 1024 * 1024

_WIKI_HEADING = re.compile(r"^\s*(=+)\s*(.+?)\s*=+\s*$")
_MD_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.+?)\s*#*\s*$")


@dataclass(frozen=True)
class SourceFile:
    """A file found by the scan, before it is read."""

    path: str  # relative, POSIX
    abspath: Path
    # Set when the scan already knows the file cannot be read (not a regular file, a link loop,
    # a name that is not UTF-8): reading it raises SkipFile with this reason.
    problem: str | None = None


@dataclass(frozen=True)
class FileBytes:
    """A file's bytes as read (capped, see MAX_FILE_BYTES), hashed once for every use."""

    data: bytes
    sha256: str
    warnings: tuple[str, ...]


class SkipFile(Exception):
    """Raised by a reader: this file is skipped, for the reason given."""


def scan(corpus: Path, follow_outside_links: bool = False) -> list[SourceFile]:
    """Every supported file under ``corpus``, sorted by relative path.

    Symlinked folders are not descended (so link loops cannot trap the walk); a symlinked file is
    taken only when it resolves inside the corpus, unless ``follow_outside_links``. Only regular
    files are read: a FIFO named ``*.txt`` would block the reader forever. A file that cannot be
    read for what it is (FIFO, device, link loop, a name that is not UTF-8) is returned with its
    ``problem`` set, so it is skipped with that reason instead of silently missing.
    """
    if not corpus.exists():
        raise CorpusError(f"corpus folder {corpus} does not exist")
    if not corpus.is_dir():
        raise CorpusError(f"corpus {corpus} is not a folder")
    root = corpus.resolve()
    found: list[SourceFile] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in filenames:
            if name.startswith(".") or not name.lower().endswith(SUFFIXES):
                continue
            abspath = Path(dirpath) / name
            relative = abspath.relative_to(root).as_posix()
            problem = _unreadable(abspath, root, follow_outside_links)
            if problem == _OUTSIDE:
                continue
            if not _is_utf8(relative):
                # Surrogate-escaped bytes cannot go into the UTF-8 manifest: skip, named readably.
                relative = os.fsencode(relative).decode("utf-8", "backslashreplace")
                problem = "the file name is not valid UTF-8: rename it to index it"
            found.append(SourceFile(relative, abspath, problem))
    return sorted(found, key=lambda f: f.path)


_OUTSIDE = "outside"


def _is_utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _unreadable(abspath: Path, root: Path, follow_outside_links: bool) -> str | None:
    """Why the file must not be read, _OUTSIDE for a link leaving the corpus, or None."""
    try:
        info = os.stat(abspath)  # follows links: a loop or a dangling link fails here
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "symbolic link loop: not indexed"
        if abspath.is_symlink():
            return "broken symbolic link: not indexed"
        return f"cannot read: {exc.strerror or exc}"
    if (abspath.is_symlink() and not follow_outside_links
            and not Path(os.path.realpath(abspath)).is_relative_to(root)):
        return _OUTSIDE
    if not stat.S_ISREG(info.st_mode):
        return "not a regular file (FIFO, socket or device): not read"
    return None


def read_bytes(source: SourceFile) -> FileBytes:
    """The file's bytes (capped, see MAX_FILE_BYTES), their sha256 and any warnings."""
    if source.problem:
        raise SkipFile(source.problem)
    whole = source.path.lower().endswith((".pdf", ".docx"))  # containers that cannot be cut
    limit = MAX_PDF_BYTES if whole else MAX_FILE_BYTES
    try:
        # O_NONBLOCK: a file swapped for a FIFO after the scan must not block the open; the
        # fstat then refuses anything but a regular file before a single byte is read.
        fd = os.open(source.abspath, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        with open(fd, "rb") as handle:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise SkipFile("not a regular file (FIFO, socket or device): not read")
            data = handle.read(limit + 1)
    except FileNotFoundError as exc:
        raise SkipFile("file vanished between scan and read") from exc
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise SkipFile("symbolic link loop: not indexed") from exc
        raise SkipFile(f"cannot read: {exc.strerror or exc}") from exc
    warnings: list[str] = []
    if len(data) > limit:
        if whole:
            kind = "PDF" if source.path.lower().endswith(".pdf") else "Word document"
            raise SkipFile(f"{kind} larger than {_mib(limit)}: not indexed")
        data = _cut_cleanly(data[:limit])
        warnings.append(f"larger than {_mib(limit)}: only the start is indexed")
    return FileBytes(data, hashlib.sha256(data).hexdigest(), tuple(warnings))


def _mib(size: int) -> str:
    return f"{size / 2**20:g} MiB"


def _cut_cleanly(data: bytes) -> bytes:
    """``data`` cut at a byte limit, less any half character at the end: a UTF-8 sequence split
    by the cut would make a valid UTF-8 file look undecodable (and send it to legacy detection)."""
    if data.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return data[: len(data) - len(data) % 4]
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data[: len(data) - len(data) % 2]
    for back in range(1, min(4, len(data)) + 1):  # a UTF-8 character is at most 4 bytes
        byte = data[-back]
        if byte & 0xC0 == 0x80:  # continuation byte: keep looking for the lead byte
            continue
        if byte >= 0xC0:  # lead byte: drop it and its continuations if the character is short
            length = 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
            return data[:-back] if length > back else data
        return data
    return data


def decode_text(data: bytes) -> str:
    """Decode a text file: BOMs first, then strict UTF-8, then a detected legacy encoding."""
    for bom, encoding in (
        (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF32_LE, "utf-32"),
        (codecs.BOM_UTF32_BE, "utf-32"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if data.startswith(bom):
            try:
                return data.decode(encoding)
            except UnicodeDecodeError as exc:
                raise SkipFile(f"invalid {encoding} despite its byte-order mark") from exc
    if b"\x00" in data:
        raise SkipFile("binary file (contains NUL bytes)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    text = _decode_legacy(data)
    # Legacy single-byte encodings "decode" anything; a file full of control bytes is binary.
    controls = sum(1 for ch in text if ord(ch) < 32 and ch not in "\n\r\t\f")
    if controls > max(8, len(text) // 100):
        raise SkipFile("binary file (control bytes)")
    return text


# On a tie, charset-normalizer's order is arbitrary (it ranks Baltic cp1257 above cp1252 for
# plain French); prefer the code pages most files are actually written in.
_PREFERRED = ("cp1252", "cp1251", "cp1250", "latin_1", "iso8859_15", "cp1253", "shift_jis", "gb18030")


def _decode_legacy(data: bytes) -> str:
    from charset_normalizer import from_bytes

    matches = [m for m in from_bytes(data) if m.encoding]
    if matches:
        least = min(m.chaos for m in matches)
        tied = [m for m in matches if m.chaos <= least + 1e-9]
        tied.sort(key=lambda m: _PREFERRED.index(m.encoding) if m.encoding in _PREFERRED else len(_PREFERRED))
        return str(tied[0])
    try:
        return data.decode("cp1252")  # strict: fails on the 5 bytes cp1252 leaves undefined
    except UnicodeDecodeError as exc:
        raise SkipFile("binary file or unknown text encoding") from exc


def _title_from_text(text: str, fallback: str) -> str:
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped:
            continue
        match = _WIKI_HEADING.match(stripped) or _MD_HEADING.match(stripped)
        title = match.group(2) if match else stripped
        return title[:120].strip() or fallback
    return fallback


def _markdown_title(text: str, fallback: str) -> str:
    """``title:`` of the front matter, else the first heading, else the first line of text:
    never the front matter's ``---`` or a markup line (a fence, a comment, an admonition)."""
    _, fields = markdown.front_matter(text)
    if fields.get("title", "").strip():
        return " ".join(fields["title"].split())[:120].strip()
    lines = text.splitlines()
    kinds = markdown.line_kinds(lines)
    content = [line.strip() for line, kind in zip(lines, kinds, strict=True) if kind == markdown.TEXT and line.strip()]
    for line in content:
        if match := _MD_HEADING.match(line):
            return markdown.heading_title(match.group(2))[:120].strip() or fallback
    for line in content:
        if shown := markdown.visible(line)[:120].strip():
            return shown
    return fallback


def _read_html(data: bytes) -> tuple[str, str | None, tuple[int, ...]]:
    from qa.html_reader import read_html

    return read_html(decode_text(data))


def _read_pdf(data: bytes) -> tuple[str, tuple[int, ...], str | None]:
    import io
    import logging

    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = PdfReader(io.BytesIO(data))
        pages = [page.extract_text() or "" for page in reader.pages]
        meta_title = reader.metadata.title if reader.metadata else None
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as exc:
        raise SkipFile(f"corrupt PDF: {exc}") from exc
    except Exception as exc:  # pypdf raises many internal types on malformed files
        raise SkipFile(f"corrupt PDF: {type(exc).__name__}: {exc}") from exc
    if not any(page.strip() for page in pages):
        raise SkipFile("PDF has no text layer (scanned image?): nothing to index")
    starts: list[int] = []
    parts: list[str] = []
    size = 0
    for page in pages:
        if size >= MAX_FILE_BYTES:
            break  # extracted text capped like a text file's bytes
        starts.append(size)
        parts.append(page.rstrip() + "\n\n")
        size += len(parts[-1])
    return "".join(parts), tuple(starts), (str(meta_title).strip() if meta_title else None)


def _read_docx(data: bytes) -> tuple[str, str | None]:
    from qa.docx_reader import Unreadable, read_docx

    try:
        text, title = read_docx(data)
    except Unreadable as exc:
        raise SkipFile(f"corrupt Word document: {exc}") from exc
    if len(text) > MAX_FILE_BYTES:  # extracted text capped like a text file's bytes
        text = text[:text.rfind("\n", 0, MAX_FILE_BYTES) + 1] or text[:MAX_FILE_BYTES]
    return text, title


def load(source: SourceFile) -> tuple[Document, list[str]]:
    """Read one file into a Document. Raises SkipFile with the reason when it cannot."""
    raw = read_bytes(source)
    return parse(source, raw), list(raw.warnings)


def parse(source: SourceFile, raw: FileBytes) -> Document:
    """Decode the bytes of ``source`` into a Document. Raises SkipFile when it cannot."""
    data = raw.data
    if not data.strip():
        raise SkipFile("empty file")
    suffix = source.abspath.suffix.lower()
    page_starts: tuple[int, ...] = ()
    source_lines: tuple[int, ...] = ()
    title: str | None = None
    if suffix == ".pdf":
        text, page_starts, title = _read_pdf(data)
    elif suffix in (".html", ".htm"):
        text, title, source_lines = _read_html(data)
    elif suffix == ".docx":
        text, title = _read_docx(data)
    else:
        text = decode_text(data)
    if not text.strip():
        raise SkipFile("no text after decoding")
    fallback = Path(source.path).stem.replace("-", " ").replace("_", " ")
    if not title and markdown.is_markdown(source.path):
        title = _markdown_title(text, fallback)
    title = title or _title_from_text(text, fallback)
    return Document(
        path=source.path,
        title=title,
        text=text,
        sha256=raw.sha256,
        line_starts=line_starts_of(text),
        page_starts=page_starts,
        source_lines=source_lines,
    )

