"""The chat: conversation on the left, the selected answer's evidence on the right, the question
box at the bottom. All model, index and answer work runs in thread workers; results come back
through ``call_from_thread``. Every piece of document or user text is shown as a plain
``rich.text.Text`` after ``qa.safety`` has made control characters visible: never as markup.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import events, on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen, Screen
from textual.widgets import (
    Footer,
    Label,
    ListItem,
    ListView,
    LoadingIndicator,
    ProgressBar,
    Static,
    TextArea,
)
from textual.widgets.text_area import Selection

from qa import api
from qa.config import Settings
from qa.errors import IndexLockedError, IndexMissingError, QAError
from qa.safety import printable, printable_aligned
from qa.types import Answer, Citation, Hit

KEYS = [
    ("Enter", "send the question"),
    ("Ctrl+J or Alt+Enter", "new line in the question"),
    ("Up / Down (empty question)", "previous / next question of this session"),
    ("F2 / F3 / F4", "focus chat / sources / question (Tab and Shift+Tab cycle too)"),
    ("Up / Down in chat", "select an answer: its sources show on the right"),
    ("Enter or click on a source", "open the document at the cited lines, sentence highlighted"),
    ("e (in the document)", "open the file in $EDITOR at the cited line"),
    ("Esc", "back from the document or help"),
    ("Ctrl+N", "new chat (forget the conversation)"),
    ("Ctrl+Y", "copy the selected answer with its citations"),
    ("Ctrl+S", "export the conversation to Markdown"),
    ("Ctrl+P", "command palette"),
    ("F1", "this help"),
    ("Ctrl+Q", "quit"),
]


def plain(text: str, style: str = "") -> Text:
    """Untrusted text as a renderable: control characters made visible, markup not parsed."""
    return Text(printable(text), style=style)


_MARKER = re.compile(r"\[\d+\]")
LOCK_RETRY_SECONDS = 2.0  # while another writer builds the first index


def answer_text(answer: Answer) -> Text:
    text = Text()
    if answer.assumption:
        text.append(printable(f"({answer.assumption})\n"), style="italic dim")
    body = Text(printable(answer.text))
    for match in _MARKER.finditer(body.plain):
        body.stylize("bold cyan", match.start(), match.end())
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
    def __init__(self, source: Citation | Hit, label: Text) -> None:
        super().__init__(Static(label))
        self.source = source


def source_label(source: Citation | Hit) -> Text:
    label = Text()
    page = f" (page {source.page})" if source.page else ""
    if isinstance(source, Citation):
        label.append(f"[{source.n}] ", style="bold cyan")
        label.append(printable(source.location + page), style="bold")
        label.append(printable(f"  {source.title}\n"), style="dim")
        label.append(printable(f"\u201c{source.quote}\u201d"))
    else:
        label.append(f"{source.rank}. ", style="bold yellow")
        label.append(printable(source.location + page), style="bold")
        label.append(printable(f"  {source.title}  score {source.score:.3f}\n"), style="dim")
        snippet = " ".join(source.text.split())
        label.append(printable(snippet[:240] + ("…" if len(snippet) > 240 else "")))
    return label


class DocumentScreen(Screen[None]):
    """A cited document, the cited sentence selected and scrolled into view."""

    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("e", "edit", "Open in $EDITOR"),
    ]

    def __init__(self, index: api.Index, source: Citation | Hit) -> None:
        super().__init__()
        self.index = index
        self.source = source
        self.note = ""

    def compose(self) -> ComposeResult:
        s = self.source
        yield Static(plain(f"{s.location}  {s.title}"), id="doc-title")
        yield Static("", id="doc-note")
        yield TextArea("", read_only=True, show_line_numbers=True, soft_wrap=True, id="document")
        yield Footer()

    def on_mount(self) -> None:
        area = self.query_one(TextArea)
        try:
            document, current = self.index.read_document(self.source.path)
        except QAError as exc:
            self.query_one("#doc-note", Static).update(plain(str(exc)))
            return
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
        area.focus()
        self.call_after_refresh(area.scroll_cursor_visible, center=True)

    def action_edit(self) -> None:
        editor = os.environ.get("VISUAL") or os.environ.get("EDITOR")
        if not editor:
            self.notify("Set $EDITOR (or $VISUAL) to open files from here.", severity="warning", markup=False)
            return
        path = self.index.document_path(self.source.path)
        with self.app.suspend():
            subprocess.call([*shlex.split(editor), f"+{self.source.start_line}", str(path)])


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,f1,q", "app.pop_screen", "Close")]

    def compose(self) -> ComposeResult:
        text = Text("qa — keys\n\n", style="bold")
        for key, what in KEYS:
            text.append(f"{key:<28}", style="bold cyan")
            text.append(f"{what}\n")
        text.append("\nAnswers quote the documents; [n] markers point at the sources on the right. "
                    "A refusal (yellow) means the documents don't say; its sources are only the closest matches.")
        with VerticalScroll():
            yield Static(text)


class QAApp(App[None]):
    """``qa chat``. Takes its settings (and so its index and corpus) through the constructor."""

    CSS_PATH = "app.tcss"
    TITLE = "qa"
    BINDINGS = [
        Binding("ctrl+q", "quit", "Quit", priority=True),
        Binding("f1", "help", "Help"),
        Binding("ctrl+n", "new_chat", "New chat"),
        Binding("ctrl+y", "copy_answer", "Copy"),
        Binding("ctrl+s", "export", "Export"),
        Binding("f2", "focus_pane('chat')", "Chat", show=False),
        Binding("f3", "focus_pane('sources')", "Sources", show=False),
        Binding("f4", "focus_pane('question')", "Question", show=False),
    ]

    def __init__(self, settings: Settings, *, export_dir: Path | None = None, cursor_blink: bool = True) -> None:
        super().__init__()
        self.settings = settings
        self.export_dir = export_dir or Path.cwd()
        self.cursor_blink = cursor_blink
        self.index: api.Index | None = None
        self.conversation: api.Conversation | None = None
        # Why the index could not be opened or built, if it could not: `qa chat` then exits 1.
        self.failure: str | None = None

    # -- layout ---------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Static(plain("qa · opening the index…"), id="info-bar")
        with Horizontal(id="main"):
            with Vertical(id="chat-pane"):
                yield Label("Conversation", classes="pane-title")
                yield ListView(id="chat")
            with Vertical(id="sources-pane"):
                yield Label("Sources", classes="pane-title", id="sources-title")
                yield ListView(id="sources")
        with Vertical(id="building"):
            yield Label("", id="building-label")
            yield ProgressBar(id="building-progress", show_eta=False)
        question = QuestionInput(id="question")
        question.cursor_blink = self.cursor_blink
        yield question
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(QuestionInput).focus()
        self.open_index()

    # -- index ----------------------------------------------------------------------------
    def _set_info(self, text: str) -> None:
        self.query_one("#info-bar", Static).update(plain(text))

    def _building(self, label: str | None, total: int | None = None) -> None:
        """Show the build panel at a new stage (label, bar reset), or hide it (None)."""
        panel = self.query_one("#building")
        if label is None:
            panel.remove_class("visible")
            return
        panel.add_class("visible")
        self.query_one("#building-label", Label).update(plain(label))
        self.query_one("#building-progress", ProgressBar).update(total=total, progress=0)

    def _building_advance(self, n: int) -> None:
        self.query_one("#building-progress", ProgressBar).advance(n)

    @work(thread=True, exclusive=True, group="index")
    def open_index(self, rebuild: bool = False) -> None:
        """Open the index; build or update it first when it is missing or the corpus changed."""
        settings = self.settings
        app = self

        class Progress:
            def stage(self, name: str, total: int | None = None) -> None:
                app.call_from_thread(app._building, f"Building the index: {name}…", total)

            def advance(self, n: int = 1) -> None:
                app.call_from_thread(app._building_advance, n)

        try:
            index = None
            if not rebuild:
                try:
                    index = api.open_index(settings.index_dir, encoder=settings.encoder)
                    stale = index.stale_files(settings.corpus) if settings.corpus.is_dir() else []
                    if stale:
                        self.call_from_thread(self._set_info, f"qa · {len(stale)} file(s) changed since indexing: updating…")
                        index = None
                except IndexMissingError:
                    pass
            if index is None:
                if not settings.corpus.is_dir():
                    raise IndexMissingError(f"no index in {settings.index_dir} and no corpus folder {settings.corpus} to build it from")
                try:
                    report = api.build_index(settings.corpus, settings.index_dir, rebuild=rebuild, progress=Progress())
                except IndexLockedError:
                    # Another `qa index` is writing: answer from what is committed meanwhile
                    # (each question picks up its new generation), or wait for it and retry.
                    self.call_from_thread(self._building, None)
                    try:
                        index = api.open_index(settings.index_dir, encoder=settings.encoder)
                    except IndexMissingError:
                        self.call_from_thread(self._set_info, "qa · another `qa index` is building the index: waiting…")
                        self.call_from_thread(self.set_timer, LOCK_RETRY_SECONDS, self.open_index)
                        return
                    index.search("warm up", k=1)
                    self.call_from_thread(self._index_ready, index)
                    return
                self.call_from_thread(self._building, None)
                skipped = f", skipped {len(report.skipped)}" if report.skipped else ""
                self.call_from_thread(self.notify, f"Indexed {report.chunks} chunks in {report.seconds:.0f} s{skipped}.", markup=False)
                index = api.open_index(settings.index_dir, encoder=settings.encoder)
            index.search("warm up", k=1)  # loads the encoder and BM25 now, not on the first question
        except QAError as exc:
            self.failure = str(exc)
            self.call_from_thread(self._building, None)
            self.call_from_thread(self._set_info, f"qa · {exc}")
            self.call_from_thread(self.notify, str(exc), severity="error", timeout=15, markup=False)
            return
        self.call_from_thread(self._index_ready, index)

    def _index_ready(self, index: api.Index) -> None:
        self.failure = None
        self.index = index
        self.conversation = api.Conversation(index, k=self.settings.k, mode=self.settings.mode)
        model = index.model_name.rsplit("/", 1)[-1]
        encoder = type(index.retriever.encoder).__name__.replace("Encoder", "").lower()
        corpus = index.corpus
        with contextlib.suppress(ValueError):
            corpus = corpus.relative_to(Path.cwd())
        self._set_info(f"qa · {corpus} · {len(index.manifest.get('files', {}))} files · "
                       f"{len(index)} chunks · {model} ({encoder}) · {self.settings.mode}")
        for notice in index.notices:
            self.notify(notice, severity="warning", markup=False)

    # -- asking ---------------------------------------------------------------------------
    @on(QuestionInput.Submitted)
    def ask(self, event: QuestionInput.Submitted) -> None:
        if self.conversation is None:
            self.notify("The index is not ready yet: wait for it to finish loading.", severity="warning", markup=False)
            return
        chat = self.query_one("#chat", ListView)
        turn = Turn(event.question)
        chat.append(turn)
        chat.index = len(chat.children) - 1
        chat.scroll_end(animate=False)
        self.answer(turn)

    @work(thread=True, group="answer")
    def answer(self, turn: Turn) -> None:
        assert self.conversation is not None
        try:
            # Between questions: a generation committed by another writer replaces the open one.
            fresh = self.conversation.index.refreshed()
            if fresh is not self.conversation.index:
                self.conversation.index = self.index = fresh
            answer = self.conversation.ask(turn.question)
        except QAError as exc:
            self.call_from_thread(turn.show_error, str(exc))
            return
        self.call_from_thread(self._answered, turn, answer)

    def _answered(self, turn: Turn, answer: Answer) -> None:
        turn.show_answer(answer)
        chat = self.query_one("#chat", ListView)
        if chat.highlighted_child is turn:
            self.show_sources(answer)
        chat.scroll_end(animate=False)

    @on(ListView.Highlighted, "#chat")
    def _turn_highlighted(self, event: ListView.Highlighted) -> None:
        if isinstance(event.item, Turn) and event.item.answer is not None:
            self.show_sources(event.item.answer)

    def show_sources(self, answer: Answer) -> None:
        sources = self.query_one("#sources", ListView)
        sources.clear()
        title = self.query_one("#sources-title", Label)
        if answer.grounded:
            title.update("Sources")
            items: Iterable[Citation | Hit] = answer.citations
        else:
            title.update("Closest matches (not answers)")
            items = answer.passages
        sources.extend(SourceItem(source, source_label(source)) for source in items)
        if sources.children:
            sources.index = 0  # so F3 then Enter opens [1] straight away

    @on(ListView.Selected, "#sources")
    def _open_source(self, event: ListView.Selected) -> None:
        if isinstance(event.item, SourceItem) and self.index is not None:
            self.push_screen(DocumentScreen(self.index, event.item.source))

    # -- actions --------------------------------------------------------------------------
    def _selected_answer(self) -> Answer | None:
        chat = self.query_one("#chat", ListView)
        item = chat.highlighted_child
        if isinstance(item, Turn) and item.answer is not None:
            return item.answer
        answered = [t.answer for t in chat.query(Turn) if t.answer is not None]
        return answered[-1] if answered else None

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def action_new_chat(self) -> None:
        if self.conversation is not None:
            self.conversation.reset()
        self.query_one("#chat", ListView).clear()
        self.query_one("#sources", ListView).clear()
        self.query_one(QuestionInput).focus()
        self.notify("New chat.", markup=False)

    def action_copy_answer(self) -> None:
        answer = self._selected_answer()
        if answer is None:
            self.notify("No answer to copy yet.", severity="warning", markup=False)
            return
        self.copy_to_clipboard(clipboard_text(answer))
        self.notify("Answer copied to the clipboard.", markup=False)

    def action_export(self) -> None:
        if self.conversation is None or not self.conversation.turns:
            self.notify("Nothing to export yet.", severity="warning", markup=False)
            return
        path = self.export_dir / time.strftime("qa-conversation-%Y%m%d-%H%M%S.md")
        try:
            path.write_text(self.conversation.to_markdown(), encoding="utf-8")
        except OSError as exc:
            self.notify(f"Could not write {path}: {exc.strerror}", severity="error", markup=False)
            return
        self.notify(f"Conversation exported to {path}", markup=False)

    def action_focus_pane(self, widget_id: str) -> None:
        self.query_one(f"#{widget_id}").focus()

    def action_rebuild(self) -> None:
        self.index = None
        self.conversation = None
        self.open_index(rebuild=True)

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand("New chat", "Forget the conversation and start again", self.action_new_chat)
        yield SystemCommand("Export conversation", "Save the conversation and its citations as Markdown", self.action_export)
        yield SystemCommand("Copy answer", "Copy the selected answer with its citations", self.action_copy_answer)
        yield SystemCommand("Rebuild index", "Re-embed the whole corpus", self.action_rebuild)
        yield SystemCommand("Help", "Show all key bindings", self.action_help)
