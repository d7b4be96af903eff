"""The chat's widgets and the renderables they show. Every piece of document or user text is
shown as a plain ``rich.text.Text`` after ``qa.safety`` has made control characters visible:
never as markup."""

from __future__ import annotations

import re
from typing import Any

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.message import Message
from textual.widgets import ListItem, LoadingIndicator, Static, TextArea

from qa.safety import printable
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


class Turn(ListItem):
    """One question and its answer (or a loading indicator while it is computed)."""

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question
        self.answer: Answer | None = None

    def compose(self) -> ComposeResult:
        yield Static(plain(f"You: {self.question}"), classes="question")
        yield LoadingIndicator()

    def show_answer(self, answer: Answer) -> None:
        self.answer = answer
        self.query(LoadingIndicator).remove()
        self.set_class(not answer.grounded, "refusal")
        self.mount(Static(answer_text(answer), classes="answer"))

    def show_error(self, message: str) -> None:
        self.query(LoadingIndicator).remove()
        self.add_class("error")
        self.mount(Static(plain(f"Error: {message}"), classes="answer"))


class SourceItem(ListItem):
    def __init__(self, source: Citation | Hit, label: Text, span: AnswerSpan | None = None) -> None:
        super().__init__(Static(label))
        self.source = source
        self.span = span  # the answer words, when they lie in this source


def source_label(source: Citation | Hit, span: AnswerSpan | None = None) -> Text:
    label = Text()
    page = f" (page {source.page})" if source.page else ""
    if isinstance(source, Citation):
        label.append(f"[{source.n}] ", style="bold cyan")
        label.append(printable(source.location + page), style="bold")
        label.append(printable(f"  {source.title}\n"), style="dim")
        quote = Text(printable(f"\u201c{source.quote}\u201d"))
        if span is not None and source.start_char <= span.start_char and span.end_char <= source.end_char:
            # offsets in the shown text: printable() may widen a control character
            offset = span.start_char - source.start_char
            begin = 1 + len(printable(source.quote[:offset]))
            quote.stylize(ANSWER_WORDS, begin, begin + len(printable(source.quote[offset:offset + span.end_char - span.start_char])))
        label.append_text(quote)
    else:
        label.append(f"{source.rank}. ", style="bold yellow")
        label.append(printable(source.location + page), style="bold")
        label.append(printable(f"  {source.title}  score {source.score:.3f}\n"), style="dim")
        snippet = " ".join(source.text.split())
        label.append(printable(snippet[:240] + ("…" if len(snippet) > 240 else "")))
    return label
