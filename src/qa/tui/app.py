"""The chat: conversation on the left, the selected answer's evidence on the right, the question
box at the bottom. Opening, building, answering and saving run in thread workers that only post
messages; the handlers below, on the app's own thread, are the only code that touches widgets.

Answering is exclusive: one question at a time, in the order they were sent. A question sent
while another is answered waits, shown as queued, so a follow-up is always read after the
answer it follows (a race lost the "read as a follow-up" context).
"""

from __future__ import annotations

import contextlib
import threading
from collections import deque
from collections.abc import Iterable
from pathlib import Path

from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.theme import Theme
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
from qa.tui.conversations import ConversationCommands
from qa.tui.document import DocumentScreen
from qa.tui.history import History
from qa.tui.messages import (
    Answered,
    IndexAdvance,
    IndexFailed,
    IndexReady,
    IndexRefreshed,
    IndexStage,
    IndexStatus,
    PostedProgress,
    WatchStatus,
)
from qa.tui.screens import HelpScreen
from qa.tui.userdata import UserSettings, user_data_dir
from qa.tui.widgets import (
    ChatList,
    QuestionInput,
    SourceItem,
    Turn,
        plain,
    source_label,
    welcome_text,
)

LOCK_RETRY_SECONDS = 2.0  # while another writer builds the first index


class QAApp(ConversationCommands, App[None]):
    """``qa chat``. Takes its settings (and so its index and corpus), where to export and where
    its own files live (``data_dir``, default ``$XDG_DATA_HOME/qa``) through the constructor."""

    CSS_PATH = "app.tcss"
    TITLE = "qa"
    BINDINGS = [
        Binding("ctrl+q", "quit", "Quit", priority=True),
        Binding("f1", "help", "Help"),
        Binding("ctrl+n", "new_chat", "New chat"),
        Binding("ctrl+y", "copy_answer", "Copy"),
        Binding("ctrl+s", "export", "Export"),
        Binding("ctrl+r", "reopen", "Reopen corpus", show=False),
        Binding("f2", "focus_pane('chat')", "Chat", show=False),
        Binding("f3", "focus_pane('sources')", "Sources", show=False),
        Binding("f4", "focus_pane('question')", "Question", show=False),
    ]

    def __init__(self, settings: Settings, *, export_dir: Path | None = None, data_dir: Path | None = None,
                 cursor_blink: bool = True, watch: bool = False) -> None:
        super().__init__()
        self.settings = settings
        self.watch_corpus = watch  # (App.watch is Textual's own)
        self.watcher: qa.Watcher | None = None
        self.watch_line = ""
        self.export_dir = export_dir or Path.cwd()
        self.data_dir = data_dir or user_data_dir()
        self.cursor_blink = cursor_blink
        self.index: Index | None = None
        self.conversation: qa.Conversation | None = None
        # Why the index could not be opened or built, if it could not: `qa chat` then exits 1.
        self.failure: str | None = None
        self.waiting: deque[Turn] = deque()  # questions sent, not yet being answered
        self.answering: Turn | None = None  # the one question being answered
        self.following: Turn | None = None  # the newest turn, kept in view while it grows
        self.history = History(self.data_dir)
        self.history_path: Path | None = None  # where this conversation is saved
        self.history_owned = False  # whether that file is ours to replace
        self._save_lock = threading.Lock()
        self._save_seq = 0
        self.exported: set[Path] = set()  # files this session exported (only these it may replace)
        self.kept_turns: list[tuple[str, Answer]] = []  # the conversation, across a rebuild
        self.user_settings = UserSettings(self.data_dir).load()

    # -- layout ---------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield Static(plain("qa · opening the index…"), id="info-bar")
        with Horizontal(id="main"):
            with Vertical(id="chat-pane"):
                yield Label("Conversation", classes="pane-title")
                yield Static(welcome_text(self._corpus_shown(), None, None), id="welcome")
                yield ChatList(id="chat")
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
        saved = self.user_settings.get_str("theme")
        if saved in self.available_themes:
            self.theme = saved
        self.theme_changed_signal.subscribe(self, self._theme_changed)
        if self.user_settings.problem:
            self.notify(self.user_settings.problem, severity="warning", markup=False)
        self.query_one(QuestionInput).focus()
        self.open_index()

    def _theme_changed(self, theme: Theme) -> None:
        """Remember the theme chosen (the palette's "Theme" command) for the next run."""
        if theme.name == self.user_settings.get_str("theme"):
            return
        try:
            self.user_settings.set("theme", theme.name)
        except QAError as exc:
            self.notify(f"The theme will not be remembered: {exc}", severity="warning", markup=False)

    def _corpus_shown(self) -> Path:
        corpus = self.index.corpus if self.index is not None else self.settings.corpus
        return corpus.absolute()

    def _show_welcome(self, empty: bool | None = None) -> None:
        """The welcome, or what to do when there is nothing to answer from, in an empty chat."""
        welcome = self.query_one("#welcome", Static)
        welcome.update(welcome_text(self._corpus_shown(), self.index, self.failure))
        welcome.display = not self.query_one("#chat", ListView).children if empty is None else empty

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
                                         rebuild=rebuild, progress=PostedProgress(self), announce=announce,
                                         cluster=settings.cluster)
            except IndexLockedError:
                # Another `qa index` is writing: answer from what is committed meanwhile
                # (each question picks up its new generation), or wait for it and retry.
                self.post_message(IndexStage(None))
                try:
                    index = qa.open_index(settings.index_dir, encoder=settings.encoder, cluster=settings.cluster)
                except IndexMissingError:
                    self.post_message(IndexStatus("qa · another `qa index` is building the index: waiting…"))
                    self.call_from_thread(self.set_timer, LOCK_RETRY_SECONDS, self.open_index)
                    return
            index.search("warm up", k=1)  # loads the encoder and BM25 now, not on the first question
        except QAError as exc:
            self.post_message(IndexStage(None))
            self.post_message(IndexStatus(f"qa · {exc}", notify=str(exc), severity="error"))
            self.post_message(IndexFailed(str(exc)))
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

    @on(IndexFailed)
    def _index_failed(self, message: IndexFailed) -> None:
        self.failure = message.reason
        self._show_welcome()

    @on(IndexReady)
    def _index_ready(self, message: IndexReady) -> None:
        index = message.index
        self.failure = None
        kept, self.kept_turns = self.kept_turns or self.conversation_turns(), []  # a rebuild keeps the chat going
        self.conversation = qa.Conversation(index, k=self.settings.k, mode=self.settings.mode)
        self.conversation.restore(kept)
        self._show_index(index)
        self._show_welcome()
        for notice in index.notices:
            self.notify(notice, severity="warning", markup=False)
        self._next_answer()
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

    def action_reopen(self) -> None:
        """Open the corpus again: after documents were added to an empty or new folder."""
        self.failure = None
        self._set_info("qa · opening the index…")
        self.open_index()

    def action_rebuild(self) -> None:
        # no questions meanwhile: the generation they would be answered from is being replaced
        self.kept_turns = self.conversation_turns()
        self.index, self.conversation = None, None
        self.open_index(rebuild=True)

    # -- asking ---------------------------------------------------------------------------
    @on(QuestionInput.Submitted)
    def ask(self, event: QuestionInput.Submitted) -> None:
        if self.conversation is None:
            if self.failure:
                self.notify(f"Nothing to answer from: {self.failure}", severity="error", markup=False)
            else:
                self.notify("The index is not ready yet: wait for it to finish loading.",
                            severity="warning", markup=False)
            return
        turn = Turn(event.question, queued=self.answering is not None)
        chat = self.query_one("#chat", ListView)
        chat.append(turn)
        self.query_one("#welcome").display = False
        chat.index = len(chat.children) - 1
        self.following = turn
        self.call_after_refresh(self._scroll_to, turn)
        self.waiting.append(turn)
        self._next_answer()

    def _next_answer(self) -> None:
        """Start answering the next waiting question, unless one is being answered."""
        if self.answering is not None or not self.waiting or self.conversation is None:
            return
        turn = self.answering = self.waiting.popleft()
        turn.start()
        self.answer(turn, self.conversation)

    @work(thread=True, group="answer")
    def answer(self, turn: Turn, conversation: qa.Conversation) -> None:
        try:
            # Between questions: a generation committed by another writer replaces the open one.
            fresh = conversation.index.refreshed()
            if fresh is not conversation.index:
                conversation.index = fresh
                self.post_message(IndexRefreshed(fresh))
            self.post_message(Answered(turn, conversation, conversation.ask(turn.question)))
        except QAError as exc:
            self.post_message(Answered(turn, conversation, None, str(exc)))

    @on(Answered)
    async def _answered(self, message: Answered) -> None:
        turn, answer = message.turn, message.answer
        if message.turn is self.answering:
            self.answering = None
        if message.conversation is self.conversation:  # not a chat since left (Ctrl+N, reopen)
            if answer is None:
                await turn.show_error(message.error)
            else:
                await turn.show_answer(answer)
                if self.query_one("#chat", ListView).highlighted_child is turn:
                    self.show_sources(answer)
                self.save_conversation()
            self.call_after_refresh(self._scroll_to, turn)
        self._next_answer()

    def _scroll_to(self, turn: Turn) -> None:
        """Bring the newest answer into view: the end of the chat, or, for an answer taller
        than the pane, its question at the top."""
        chat = self.query_one("#chat", ListView)
        if turn.parent is chat and chat.children and turn is chat.children[-1]:
            chat.scroll_to_widget(turn, top=True, animate=False)

    @on(Turn.Resized)
    def _turn_resized(self, message: Turn.Resized) -> None:
        if message.turn is self.following:  # a scroll made before its final layout is stale
            self.call_after_refresh(self._scroll_to, message.turn)

    @on(ListView.Highlighted, "#chat")
    def _turn_highlighted(self, event: ListView.Highlighted) -> None:
        if event.item is not self.following:
            self.following = None  # the reader moved to an older turn: stop following
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
    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def clear_chat(self) -> None:
        """An empty chat: waiting questions dropped, an answer being computed left to finish
        unseen (its conversation is no longer this one), the next answers saved anew."""
        self.waiting.clear()
        if self.index is not None:
            self.conversation = qa.Conversation(self.index, k=self.settings.k, mode=self.settings.mode)
        self.history_path, self.history_owned = None, False
        self.query_one("#chat", ListView).clear()
        self.query_one("#sources", ListView).clear()
        self._show_welcome(empty=True)  # the clearing is not done yet: children are still there
        self.query_one(QuestionInput).focus()

    def action_new_chat(self) -> None:
        self.clear_chat()
        self.notify("New chat.", markup=False)

    def action_focus_pane(self, widget_id: str) -> None:
        self.query_one(f"#{widget_id}").focus()
