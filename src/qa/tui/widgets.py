"""The chat's widgets and the renderables they show. Every piece of document or user text is
shown as a plain ``rich.text.Text`` after ``qa.safety`` has made control characters visible:
never as markup."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.widgets import ListItem, ListView, LoadingIndicator, Static, TextArea

from qa import DOCUMENT_SUFFIXES, Index
from qa.safety import printable, printable_line
from qa.types import Answer, AnswerSpan, Citation, Hit

ANSWER_WORDS = "bold reverse"  # how the short answer is marked, in the chat and the sources


def plain(text: str, style: str = "") -> Text:
    """Untrusted text as a renderable: control characters made visible, markup not parsed."""
    return Text(printable(text), style=style)


_MARKER = re.compile(r"\[\d+\]")


def answer_text(answer: Answer) -> Text:
    text = Text()
    if answer.assumption:
        text.append(printable(f"({answer.assumption})\n"), style="italic dim")
    body = Text(printable(answer.text))
    for match in _MARKER.finditer(body.plain):
        body.stylize("bold cyan", match.start(), match.end())
    if answer.answer_span is not None:
        # The answer leads with its words ("20 April 1992 — ..."), and they recur in [1].
        words = printable(" ".join(answer.answer_span.text.split()))
        if body.plain.startswith(words):
            body.stylize(ANSWER_WORDS, 0, len(words))
        inside = body.plain.find(printable(answer.answer_span.text), len(words))
        if inside >= 0:
            body.stylize("bold", inside, inside + len(printable(answer.answer_span.text)))
    text.append_text(body)
    return text


def clipboard_text(answer: Answer) -> str:
    """The answer and its citations as plain text; made printable so a paste into a terminal
    cannot carry a document's escape sequences."""
    lines = [answer.text] + [f"[{c.n}] {c.location}: \u201c{c.quote}\u201d" for c in answer.citations]
    return printable("\n".join(lines))


class QuestionInput(TextArea):
    """Multi-line question box: Enter sends, Ctrl+J / Alt+Enter insert a newline, Up/Down in an
    empty box walk the session's history."""

    class Submitted(Message):
        def __init__(self, question: str) -> None:
            super().__init__()
            self.question = question

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(placeholder="Ask a question about the documents… (Enter sends, Ctrl+J new line)", **kwargs)
        self.question_history: list[str] = []
        self._history_pos: int | None = None

    async def _on_key(self, event: events.Key) -> None:
        key = event.key
        if key == "enter":
            event.stop()
            event.prevent_default()
            question = self.text.strip()
            if question:
                self.question_history.append(question)
                self._history_pos = None
                self.text = ""
                self.post_message(self.Submitted(question))
            return
        if key in ("ctrl+j", "alt+enter"):
            event.stop()
            event.prevent_default()
            self.insert("\n")
            return
        browsing = self._history_pos is not None
        if key in ("up", "down") and self.question_history and (not self.text or browsing):
            event.stop()
            event.prevent_default()
            pos = len(self.question_history) if self._history_pos is None else self._history_pos
            pos = max(0, pos - 1) if key == "up" else pos + 1
            if pos >= len(self.question_history):
                self._history_pos, self.text = None, ""
            else:
                self._history_pos, self.text = pos, self.question_history[pos]
                self.move_cursor(self.document.end)
            return
        if browsing and event.is_printable:
            self._history_pos = None
        await super()._on_key(event)


class ChatList(ListView):
    """The conversation; ``x`` explains the selected answer."""

    BINDINGS = [Binding("x", "app.explain", "Explain")]


def welcome_text(corpus: Path, index: Index | None, failure: str | None) -> Text:
    """What an empty chat shows: what qa is, which corpus, how to ask; or, when there is
    nothing to answer from, what to do about it."""
    text = Text()
    where = printable_line(str(corpus))
    formats = " ".join(DOCUMENT_SUFFIXES)
    if failure is not None:
        text.append("Nothing to answer from yet\n\n", style="bold yellow")
        text.append(printable(failure) + "\n\n")
        text.append("Corpus folder: ", style="bold")
        text.append(where + (" (does not exist)" if not corpus.is_dir() else "") + "\n")
        text.append("To start: put documents in that folder (", style="")
        text.append(formats, style="bold")
        text.append("), then press Ctrl+R here to index them.\n")
        text.append("Or index another folder: ", style="")
        text.append("qa chat --corpus FOLDER", style="bold cyan")
        text.append("  (or ")
        text.append(f"qa index {where}", style="bold cyan")
        text.append(")\n\nF1: all keys · Ctrl+Q: quit")
        return text
    text.append("Welcome to qa\n\n", style="bold")
    text.append("qa answers questions from your own documents, offline, and quotes the sentences it "
                "answered from, so you can check them. When the documents do not say, it says so.\n\n")
    text.append("Corpus: ", style="bold")
    text.append(where)
    if index is not None:
        text.append(f"  ({len(index.manifest.files)} files, {len(index)} passages)")
    else:
        text.append("  (opening…)")
    text.append(f"\nFormats read: {formats}\n\n")
    text.append("Type a question below and press Enter. ", style="")
    text.append("Follow-ups (\u201cHow many signed it?\u201d) are read with the previous question.\n")
    text.append("Up/Down in the chat selects an answer; its sources show on the right; Enter on a source opens it.\n")
    text.append("Conversations are saved as you go: Ctrl+P lists them, and themes.\n\n")
    text.append("F1", style="bold cyan")
    text.append(" shows all keys.")
    return text


class Turn(ListItem):
    """One question and its answer: queued (another answer is being computed), then a loading
    indicator while its own is, then the answer with a warning line per conflict."""

    class Resized(Message):
        """Its height changed (its answer was laid out): the chat may need to scroll again."""

        def __init__(self, turn: Turn) -> None:
            super().__init__()
            self.turn = turn

    def __init__(self, question: str, *, queued: bool = False) -> None:
        super().__init__()
        self.question = question
        self.answer: Answer | None = None
        self.queued = queued
        self.set_class(queued, "queued")

    def compose(self) -> ComposeResult:
        yield Static(plain(f"You: {self.question}"), classes="question")
        if self.queued:
            yield Static("queued: answered after the question above", classes="status")
        else:
            yield LoadingIndicator()

    def on_resize(self, event: events.Resize) -> None:
        # Resize is not bubbled, and it comes after the layout pass that sized the chat too
        self.post_message(self.Resized(self))

    def start(self) -> None:
        """Its answer is now being computed."""
        if self.queued:
            self.queued = False
            self.remove_class("queued")
            self.query(".status").remove()
            self.mount(LoadingIndicator())

    async def show_answer(self, answer: Answer) -> None:
        """Show the answer; returns once it is mounted (so its height is known)."""
        self.answer = answer
        await self.query(LoadingIndicator).remove()
        await self.query(".status").remove()
        self.set_class(not answer.grounded, "refusal")
        warnings = [Static(plain(f"\u26a0 {c.warning()}"), classes="conflict") for c in answer.conflicts]
        await self.mount(Static(answer_text(answer), classes="answer"), *warnings)

    async def show_error(self, message: str) -> None:
        await self.query(LoadingIndicator).remove()
        await self.query(".status").remove()
        self.add_class("error")
        await self.mount(Static(plain(f"Error: {message}"), classes="answer"))


def shorten(name: str, limit: int) -> str:
    """``name`` cut to at most ``limit`` characters at a word boundary (space, - _ . /), with
    an ellipsis; a name with no boundary in its second half is cut where it must be."""
    if len(name) <= limit:
        return name
    head = name[:limit - 1]
    cut = max(head.rfind(c) for c in " -_./")
    if cut >= limit // 2:
        head = head[:cut]
    return head.rstrip(" -_./") + "\u2026"


class SourceItem(ListItem):
    def __init__(self, source: Citation | Hit, label: Text, span: AnswerSpan | None = None) -> None:
        super().__init__(Static(label))
        self.source = source
        self.span = span  # the answer words, when they lie in this source
        # the full name, when the label had to shorten it
        self.tooltip = Text(printable_line(f"{source.location}  {source.title}"))


NAME_WIDTH = 36  # characters of a file name in the sources pane (the full name is the tooltip)


def source_label(source: Citation | Hit, span: AnswerSpan | None = None) -> Text:
    label = Text()
    page = f" (page {source.page})" if source.page else ""
    if isinstance(source, Citation):
        label.append(f"[{source.n}] ", style="bold cyan")
        label.append(printable_line(_location(source) + page), style="bold")
        label.append(printable_line(f"  {shorten(source.title, NAME_WIDTH)}") + "\n", style="dim")
        # What a reader sees (Markdown markup removed, PDF line breaks joined), like the answer.
        shown = source.text
        quote = Text(printable(f"\u201c{shown}\u201d"))
        if span is not None and source.start_char <= span.start_char and span.end_char <= source.end_char:
            offset = span.start_char - source.start_char
            words = source.quote[offset:offset + span.end_char - span.start_char]
            if shown != source.quote:  # the file's offsets do not hold in the cleaned text
                words = " ".join(words.strip("`*_ ").split())
                offset = shown.find(words)
            if offset >= 0 and words:
                # offsets in the shown text: printable() may widen a control character
                begin = 1 + len(printable(shown[:offset]))
                quote.stylize(ANSWER_WORDS, begin, begin + len(printable(words)))
        label.append_text(quote)
    else:
        label.append(f"{source.rank}. ", style="bold yellow")
        label.append(printable_line(_location(source) + page), style="bold")
        label.append(printable_line(f"  {shorten(source.title, NAME_WIDTH)}  score {source.score:.3f}") + "\n",
                     style="dim")
        snippet = " ".join(source.text.split())
        label.append(printable(snippet[:240] + ("…" if len(snippet) > 240 else "")))
    return label


def _location(source: Citation | Hit) -> str:
    """``path:lines`` with a long path shortened; the line span is always shown whole."""
    return f"{shorten(source.path, NAME_WIDTH)}:{source.start_line}-{source.end_line}"
