"""The chat: conversation on the left, the selected answer's evidence on the right, the question
box at the bottom. Opening, building and answering run in thread workers that only post
messages; the handlers below, on the app's own thread, are the only code that touches widgets.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable
from pathlib import Path

from textual import on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Label, ListView, ProgressBar, Static

import qa
from qa import (
    Answer,
    AnswerSpan,
    Citation,
    Hit,
    Index,
    IndexLockedError,
    IndexMissingError,
    QAError,
    Settings,
)
from qa.tui.screens import DocumentScreen, HelpScreen
from qa.tui.widgets import QuestionInput, SourceItem, Turn, clipboard_text, plain, source_label

LOCK_RETRY_SECONDS = 2.0  # while another writer builds the first index


class IndexStage(Message):
    """The index build moved to a new stage (``label`` None: the build is over)."""

    def __init__(self, label: str | None, total: int | None = None) -> None:
        super().__init__()
        self.label, self.total = label, total


class IndexAdvance(Message):
    def __init__(self, n: int) -> None:
        super().__init__()
        self.n = n


class IndexStatus(Message):
    """A line for the info bar, optionally also shown as a notification."""

    def __init__(self, text: str, notify: str | None = None, severity: str = "information") -> None:
        super().__init__()
        self.text, self.notify, self.severity = text, notify, severity


class IndexReady(Message):
    def __init__(self, index: Index) -> None:
        super().__init__()
        self.index = index


class IndexRefreshed(Message):
    """Another writer committed a generation; a question is now answered from it."""

    def __init__(self, index: Index) -> None:
        super().__init__()
        self.index = index


class WatchStatus(Message):
    """The watcher re-indexed (or failed to): a new status line; the next question answers
    from the new generation (``Index.refreshed``)."""

    def __init__(self, event: qa.WatchEvent) -> None:
        super().__init__()
        self.event = event


class Answered(Message):
    """A turn's answer, or (``answer`` None) the error ``error``."""

    def __init__(self, turn: Turn, answer: Answer | None, error: str = "") -> None:
        super().__init__()
        self.turn, self.answer, self.error = turn, answer, error


class _PostedProgress:
    """Index progress as messages to the app (called from the worker thread)."""

    def __init__(self, app: QAApp) -> None:
        self.app = app

    def stage(self, name: str, total: int | None = None) -> None:
        self.app.post_message(IndexStage(f"Building the index: {name}…", total))

    def advance(self, n: int = 1) -> None:
        self.app.post_message(IndexAdvance(n))


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

    def __init__(self, settings: Settings, *, export_dir: Path | None = None, cursor_blink: bool = True,
                 watch: bool = False) -> None:
        super().__init__()
        self.settings = settings
        self.watch_corpus = watch  # (App.watch is Textual's own)
        self.watcher: qa.Watcher | None = None
        self.watch_line = ""
        self.export_dir = export_dir or Path.cwd()
        self.cursor_blink = cursor_blink
        self.index: Index | None = None
        self.conversation: qa.Conversation | None = None
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
    @work(thread=True, exclusive=True, group="index")
    def open_index(self, rebuild: bool = False) -> None:
        """Open the index; build or update it first when it is missing or the corpus changed."""
        settings = self.settings

        def announce(reason: str) -> None:
            self.post_message(IndexStatus(f"qa · {reason}…"))

        try:
            try:
                index = qa.open_or_build(settings.asked_corpus, settings.index_dir, encoder=settings.encoder,
                                         rebuild=rebuild, progress=_PostedProgress(self), announce=announce)
            except IndexLockedError:
                # Another `qa index` is writing: answer from what is committed meanwhile
                # (each question picks up its new generation), or wait for it and retry.
                self.post_message(IndexStage(None))
                try:
                    index = qa.open_index(settings.index_dir, encoder=settings.encoder)
                except IndexMissingError:
                    self.post_message(IndexStatus("qa · another `qa index` is building the index: waiting…"))
                    self.call_from_thread(self.set_timer, LOCK_RETRY_SECONDS, self.open_index)
                    return
            index.search("warm up", k=1)  # loads the encoder and BM25 now, not on the first question
        except QAError as exc:
            self.failure = str(exc)
            self.post_message(IndexStage(None))
            self.post_message(IndexStatus(f"qa · {exc}", notify=str(exc), severity="error"))
            return
        if index.built is not None:
            report = index.built
            skipped = f", skipped {len(report.skipped)}" if report.skipped else ""
            self.post_message(IndexStage(None))
            self.post_message(IndexStatus(f"qa · indexed {report.chunks} chunks",
                                          notify=f"Indexed {report.chunks} chunks in {report.seconds:.0f} s{skipped}."))
        self.post_message(IndexReady(index))

    def _set_info(self, text: str) -> None:
        self.query_one("#info-bar", Static).update(plain(text))

    @on(IndexStage)
    def _index_stage(self, message: IndexStage) -> None:
        """Show the build panel at a new stage (label, bar reset), or hide it."""
        panel = self.query_one("#building")
        if message.label is None:
            panel.remove_class("visible")
            return
        panel.add_class("visible")
        self.query_one("#building-label", Label).update(plain(message.label))
        self.query_one("#building-progress", ProgressBar).update(total=message.total, progress=0)

    @on(IndexAdvance)
    def _index_advance(self, message: IndexAdvance) -> None:
        self.query_one("#building-progress", ProgressBar).advance(message.n)

    @on(IndexStatus)
    def _index_status(self, message: IndexStatus) -> None:
        self._set_info(message.text)
        if message.notify:
            error = message.severity == "error"
            self.notify(message.notify, severity="error" if error else "information",
                        timeout=15 if error else 5, markup=False)

    @on(IndexReady)
    def _index_ready(self, message: IndexReady) -> None:
        index = message.index
        self.failure = None
        self.conversation = qa.Conversation(index, k=self.settings.k, mode=self.settings.mode)
        self._show_index(index)
        for notice in index.notices:
            self.notify(notice, severity="warning", markup=False)
        if self.watch_corpus and self.watcher is None:
            def post(event: qa.WatchEvent) -> None:  # from the watcher's thread
                self.post_message(WatchStatus(event))

            self.watcher = qa.Watcher(index.corpus, index.root, on_event=post)
            self.watcher.start()

    @on(WatchStatus)
    def _watch_status(self, message: WatchStatus) -> None:
        self.watch_line = message.event.line()
        if message.event.kind == "error":
            self.notify(message.event.message, severity="error", timeout=10, markup=False)
        if self.index is not None:
            self._show_index(self.index)

    def on_unmount(self) -> None:
        if self.watcher is not None:  # stops within ~50 ms; a daemon thread in any case
            self.watcher.stop()

    @on(IndexRefreshed)
    def _index_refreshed(self, message: IndexRefreshed) -> None:
        self._show_index(message.index)
        for notice in message.index.notices:
            self.notify(notice, markup=False)

    def _show_index(self, index: Index) -> None:
        self.index = index
        model = index.model_name.rsplit("/", 1)[-1]
        corpus, root = index.corpus, index.root.absolute()
        with contextlib.suppress(ValueError):
            corpus = corpus.relative_to(Path.cwd())
        try:
            where = str(root.relative_to(Path.cwd()))
        except ValueError:  # a cache folder: its last parts say which (and keep snapshots stable)
            where = "…/" + "/".join(root.parts[-2:])
        watching = f" · {self.watch_line}" if self.watch_line else ""
        self._set_info(f"qa · {corpus} · index {where} · {len(index.manifest.files)} files · "
                       f"{len(index)} chunks · {model} ({index.encoder_kind}) · {self.settings.mode}{watching}")

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
        self.answer(turn, self.conversation)

    @work(thread=True, group="answer")
    def answer(self, turn: Turn, conversation: qa.Conversation) -> None:
        try:
            # Between questions: a generation committed by another writer replaces the open one.
            fresh = conversation.index.refreshed()
            if fresh is not conversation.index:
                conversation.index = fresh
                self.post_message(IndexRefreshed(fresh))
            self.post_message(Answered(turn, conversation.ask(turn.question)))
        except QAError as exc:
            self.post_message(Answered(turn, None, str(exc)))

    @on(Answered)
    def _answered(self, message: Answered) -> None:
        turn, answer = message.turn, message.answer
        if answer is None:
            turn.show_error(message.error)
            return
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
        span = answer.answer_span

        def span_in(source: Citation | Hit) -> AnswerSpan | None:
            return span if isinstance(source, Citation) and span is not None and source.n == span.citation else None

        sources.extend(SourceItem(source, source_label(source, span_in(source)), span_in(source)) for source in items)
        if sources.children:
            sources.index = 0  # so F3 then Enter opens [1] straight away

    @on(ListView.Selected, "#sources")
    def _open_source(self, event: ListView.Selected) -> None:
        if isinstance(event.item, SourceItem) and self.index is not None:
            self.push_screen(DocumentScreen(self.index, event.item.source, event.item.span))

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
