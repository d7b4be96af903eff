"""The document view: a cited document, the cited sentence selected and its answer words
marked, with find (``/`` or Ctrl+F, then n / N) and ``e`` to open it in $EDITOR."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path

from rich.style import Style
from textual import on
from textual.app import ComposeResult, SuspendNotSupported
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Footer, Input, Static, TextArea
from textual.widgets.text_area import Selection, TextAreaTheme

from qa import Index, QAError
from qa.safety import printable_aligned
from qa.tui.widgets import plain
from qa.types import AnswerSpan, Citation, Document, Hit


class DocumentArea(TextArea):
    """The read-only document, with the answer words marked inside the selected sentence.

    TextArea draws its highlight map (normally filled from a syntax tree) with the theme's
    syntax styles; ``mark`` adds one range under a style name of our own.
    """

    # a class default: TextArea builds its highlight map while it is still being constructed
    marked: tuple[tuple[int, int], tuple[int, int]] | None = None

    def on_mount(self) -> None:
        base = self.theme
        theme = TextAreaTheme.get_builtin_theme(base) or TextAreaTheme.get_builtin_theme("css")
        styles = dict(theme.syntax_styles) if theme else {}
        styles[ANSWER_STYLE] = Style(bold=True, reverse=True, underline=True)
        self.register_theme(TextAreaTheme(name="qa-document", syntax_styles=styles))
        self.theme = "qa-document"

    def mark(self, start: tuple[int, int], end: tuple[int, int]) -> None:
        self.marked = (start, end)
        self._build_highlight_map()
        self.refresh()

    def _build_highlight_map(self) -> None:
        super()._build_highlight_map()
        if self.marked is None:
            return
        (row, col), (end_row, end_col) = self.marked
        while row <= end_row:
            line = self.document.get_line(row)
            stop = end_col if row == end_row else len(line)
            # the highlight map is in UTF-8 byte columns
            self._highlights[row].append((len(line[:col].encode()), len(line[:stop].encode()), ANSWER_STYLE))
            row, col = row + 1, 0


ANSWER_STYLE = "qa.answer"


class DocumentScreen(Screen[None]):
    """A cited document, the cited sentence selected and scrolled into view."""

    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("e", "edit", "Open in $EDITOR"),
        Binding("slash,ctrl+f", "find", "Find"),
        Binding("n", "next_match", "Next", show=False),
        Binding("N", "next_match(-1)", "Previous", show=False),
    ]

    def __init__(self, index: Index, source: Citation | Hit, span: AnswerSpan | None = None) -> None:
        super().__init__()
        self.index = index
        self.document: Document | None = None
        self.source = source
        self.span = span
        self.note = ""
        self.matches: list[tuple[tuple[int, int], tuple[int, int]]] = []
        self.current = -1  # the match shown, an index into ``matches``

    def compose(self) -> ComposeResult:
        s = self.source
        yield Static(plain(f"{s.location}  {s.title}"), id="doc-title")
        yield Static("", id="doc-note")
        yield DocumentArea("", read_only=True, show_line_numbers=True, soft_wrap=True, id="document")
        with Horizontal(id="find-bar"):
            yield Input(placeholder="Find in the document (Enter; then n / N)", id="find")
            yield Static("", id="find-status")
        yield Footer()

    def on_mount(self) -> None:
        area = self.query_one(DocumentArea)
        try:
            document, current = self.index.read_document(self.source.path)
        except QAError as exc:
            self.query_one("#doc-note", Static).update(plain(str(exc)))
            return
        self.document = document
        if not current:
            self.note = "This file changed since it was indexed: run `qa index`; the highlight may be off."
            self.query_one("#doc-note", Static).update(plain(self.note))
        # One display character per source character, so offsets map to (row, column).
        lines = [printable_aligned(line.rstrip("\r")) for line in document.text.split("\n")]
        area.load_text("\n".join(lines))

        def location(char: int) -> tuple[int, int]:
            row = document.line_of(char) - 1
            return row, min(char - document.line_starts[row], len(lines[row]))

        area.selection = Selection(location(self.source.start_char), location(self.source.end_char))
        if self.span is not None:
            area.mark(location(self.span.start_char), location(self.span.end_char))
        area.focus()
        self.call_after_refresh(area.scroll_cursor_visible, center=True)

    # -- find -----------------------------------------------------------------------------
    def action_find(self) -> None:
        self.query_one("#find-bar").add_class("visible")
        self.query_one("#find", Input).focus()

    def action_back(self) -> None:
        bar = self.query_one("#find-bar")
        if self.query_one("#find", Input).has_focus:  # Esc leaves the find box first
            bar.remove_class("visible")
            self.query_one(DocumentArea).focus()
            return
        self.app.pop_screen()

    @on(Input.Submitted, "#find")
    def _find(self, event: Input.Submitted) -> None:
        self.find(event.value)
        self.query_one(DocumentArea).focus()  # so n / N step through the matches

    def find(self, needle: str) -> None:
        """Every case-insensitive occurrence of ``needle``; selects the first at or after the
        cursor."""
        area = self.query_one(DocumentArea)
        self.matches, self.current = [], -1
        if needle:
            lowered, wanted = area.text.lower(), needle.lower()
            start = lowered.find(wanted)
            while start >= 0:
                self.matches.append((self._location(area, start), self._location(area, start + len(wanted))))
                start = lowered.find(wanted, start + 1)
        if not self.matches:
            self._status(f"no match for \u201c{needle}\u201d" if needle else "")
            return
        cursor = area.selection.start
        after = [i for i, (begin, _) in enumerate(self.matches) if begin >= cursor]
        self._show(after[0] if after else 0)

    def action_next_match(self, step: int = 1) -> None:
        if not self.matches:
            self.action_find()
            return
        self._show((self.current + step) % len(self.matches))

    def _show(self, i: int) -> None:
        area = self.query_one(DocumentArea)
        self.current = i
        area.selection = Selection(*self.matches[i])
        area.scroll_cursor_visible(center=True)
        self._status(f"match {i + 1} of {len(self.matches)}")

    def _status(self, text: str) -> None:
        self.query_one("#find-status", Static).update(plain(text))

    @staticmethod
    def _location(area: TextArea, offset: int) -> tuple[int, int]:
        return area.document.get_location_from_index(offset)  # type: ignore[attr-defined]

    def action_edit(self) -> None:
        editor = os.environ.get("VISUAL") or os.environ.get("EDITOR")
        if not editor:
            self.notify("Set $EDITOR (or $VISUAL) to open files from here.", severity="warning", markup=False)
            return
        path, line, what, scratch = self._editor_target()
        try:
            with self.app.suspend():
                subprocess.call([*shlex.split(editor), f"+{line}", str(path)])
            self.notify(f"Opened {what}.", markup=False)
        except SuspendNotSupported:  # an editor would fight the app for the terminal
            where = what if scratch is None else _pdf_or_docx(self.source, self.index.document_path(self.source.path))
            self.notify(f"Cannot hand the terminal to an editor here: open {where} yourself.",
                        severity="warning", markup=False)
        except OSError as exc:  # $EDITOR names no runnable program
            self.notify(f"Could not start {editor!r}: {exc.strerror or exc}", severity="error", markup=False)
        finally:
            if scratch is not None:  # the extracted text qa wrote for the editor: qa's own
                shutil.rmtree(scratch, ignore_errors=True)

    def _editor_target(self) -> tuple[Path, int, str, Path | None]:
        """(file, line, what it is, the scratch folder qa made for it or None) for the editor. A
        text file opens at the cited line; an HTML page at the source line the cited text comes
        from; a PDF or Word file, which no text editor shows, as the text qa extracted (in a
        scratch folder), at the cited line."""
        path = self.index.document_path(self.source.path)
        line = self.source.start_line
        document = self.document
        if document is not None and document.source_lines:
            source_line = document.source_line(line)
            return path, source_line, f"{path} at source line {source_line} (text line {line} as qa shows it)", None
        if document is not None and path.suffix.lower() in (".pdf", ".docx"):
            scratch = Path(tempfile.mkdtemp(prefix=_SCRATCH))
            extracted = scratch / f"{path.name}.txt"
            extracted.write_text(document.text, encoding="utf-8")
            return extracted, line, f"the text qa extracted from {_pdf_or_docx(self.source, path)}", scratch
        return path, line, f"{path} at line {line}", None


_SCRATCH = "qa-extracted-"


def _pdf_or_docx(source: Citation | Hit, path: Path) -> str:
    """Where the cited text is in a PDF (its page) or a Word file (its paragraph)."""
    if source.page is not None:
        return f"{path}, page {source.page} (line {source.start_line} of its text)"
    return f"{path}, paragraph {source.start_line}"
