"""Word documents (.docx) -> text, one line per paragraph. Part of loading.

Read with python-docx, body content in document order: a paragraph is one line of its text; a
heading (styles "Title" and "Heading 1".."Heading 9") is marked in Markdown style (``## Scope``)
so the chunker sees the document's structure, as for HTML; a table row is one line ``| a | b |``
(merged cells once). Empty paragraphs are left out, so line *n* of the text is the *n*-th
paragraph, heading or table row with text: that is what a citation's line numbers count.
"""

from __future__ import annotations

import io
import re
from typing import Any

_HEADING_STYLE = re.compile(r"^heading\s*(\d)$", re.I)


class Unreadable(Exception):
    """The bytes are not a Word document python-docx can read."""


def _one_line(text: str) -> str:
    # A paragraph's soft line breaks and tabs are layout inside one paragraph, not new lines.
    return " ".join(text.split())


def _heading_level(paragraph: Any) -> int | None:
    try:
        name = paragraph.style.name if paragraph.style is not None else ""
    except (KeyError, ValueError, AttributeError):  # a style id the styles part does not define
        return None
    if name == "Title":
        return 1
    match = _HEADING_STYLE.match(name or "")
    return min(6, int(match.group(1))) if match else None


def _table_lines(table: Any) -> list[str]:
    lines = []
    for row in table.rows:
        cells: list[str] = []
        seen: set[int] = set()
        for cell in row.cells:
            if id(cell._tc) in seen:  # a merged cell is returned once per grid column it spans
                continue
            seen.add(id(cell._tc))
            cells.append(_one_line(cell.text))
        if any(cells):
            lines.append("| " + " | ".join(cells) + " |")
    return lines


def read_docx(data: bytes) -> tuple[str, str | None]:
    """The text of a .docx (see module docstring) and its title from the document properties.

    Raises Unreadable for anything that is not a readable Word document.
    """
    try:
        import docx
        from docx.table import Table

        document = docx.Document(io.BytesIO(data))
        lines: list[str] = []
        for block in document.iter_inner_content():
            if isinstance(block, Table):
                lines += _table_lines(block)
                continue
            text = _one_line(block.text)
            if not text:
                continue
            level = _heading_level(block)
            lines.append(f"{'#' * level} {text}" if level else text)
        title = document.core_properties.title
    except ImportError:
        raise
    except Exception as exc:  # python-docx, zipfile and lxml raise many types on broken files
        raise Unreadable(f"{type(exc).__name__}: {exc}") from exc
    return "\n".join(lines) + "\n", (_one_line(title) or None) if title else None
