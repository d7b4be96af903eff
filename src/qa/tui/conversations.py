"""The chat's commands on conversations and answers: saved after every answer (in a worker),
listed, reopened and deleted from the command palette, exported where the user says; copy and
explain the selected answer; the palette's commands. A mixin of ``QAApp``, which owns the state
named below."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import work
from textual.app import SystemCommand
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.content import Content
from textual.markup import escape
from textual.screen import Screen
from textual.widgets import ListView

from qa import Answer, Index, QAError, Settings
from qa.safety import printable_line
from qa.tui.dialogs import ConfirmScreen, ExplainScreen, ExportScreen
from qa.tui.history import History
from qa.tui.history import Saved as SavedConversation
from qa.tui.messages import Saved
from qa.tui.userdata import is_regular_file, write_file
from qa.tui.widgets import Turn, clipboard_text

if TYPE_CHECKING:
    from textual.app import App

    import qa

    _Base = App[None]
else:
    _Base = object


def _label(saved: SavedConversation) -> str:
    title = printable_line(" ".join(saved.title.split())) or "(untitled)"
    return f"{saved.updated}  {title[:70]}"


class _SavedProvider(Provider):
    """The saved conversations as palette commands, shown as plain text (titles are what was
    typed, or read from a file: never markup)."""

    commands: list[tuple[str, Any, str]] = []

    async def discover(self) -> Hits:
        for text, callback, help in self.commands:
            yield DiscoveryHit(Content(text), callback, text=text, help=escape(help))

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for text, callback, help in self.commands:
            if (score := matcher.match(text)) > 0:
                yield Hit(score, Content(text), callback, text=text, help=escape(help))


class ConversationCommands(_Base):
    settings: Settings
    index: Index | None
    conversation: qa.Conversation | None
    history: History
    history_path: Path | None
    history_owned: bool
    exported: set[Path]
    export_dir: Path
    _save_lock: threading.Lock
    _save_seq: int

    if TYPE_CHECKING:  # the app's
        def clear_chat(self) -> None: ...

        def show_sources(self, answer: Answer) -> None: ...

        def _show_welcome(self, empty: bool | None = None) -> None: ...

        def action_new_chat(self) -> None: ...

        def action_help(self) -> None: ...

        def action_reopen(self) -> None: ...

        def action_rebuild(self) -> None: ...

    def conversation_turns(self) -> list[tuple[str, Answer]]:
        return [(t.question, t.answer) for t in self.conversation.turns] if self.conversation else []

    # -- saving ---------------------------------------------------------------------------
    def save_conversation(self) -> None:
        turns = self.conversation_turns()
        if not turns:
            return
        if self.history_path is None:
            self.history_path, self.history_owned = self.history.new_path(), False
        self._save_seq += 1
        corpus = str(self.index.corpus) if self.index is not None else str(self.settings.corpus)
        self._save(self.history_path, corpus, turns, self.history_owned, self._save_seq)
        self.history_owned = True  # created by the first save, replaced by the next ones

    @work(thread=True, group="save")
    def _save(self, path: Path, corpus: str, turns: list[tuple[str, Answer]], replace: bool, seq: int) -> None:
        with self._save_lock:  # saves land in order; one overtaken by a newer one is dropped
            if replace and seq < self._save_seq:
                return
            try:
                self.history.save(path, corpus, turns, replace=replace)
            except QAError as exc:
                self.post_message(Saved(str(exc)))

    def on_saved(self, message: Saved) -> None:
        if message.error:
            self.notify(f"The conversation could not be saved: {message.error}", severity="error", markup=False)

    # -- open / delete from the palette ---------------------------------------------------
    def _pick(self, action: str, placeholder: str) -> None:
        saved = self.history.saved()
        if not saved:
            self.notify(f"No saved conversations yet (in {self.history.folder}).", markup=False)
            return
        do = self.reopen_conversation if action == "open" else self.confirm_delete
        _SavedProvider.commands = [
            (_label(s), partial(do, s), f"{s.questions} question(s) · {printable_line(s.corpus)}") for s in saved]
        from textual.command import CommandPalette

        self.push_screen(CommandPalette(providers=[_SavedProvider], placeholder=placeholder))

    def action_open_conversation(self) -> None:
        self._pick("open", "Open a saved conversation…")

    def action_delete_conversation(self) -> None:
        self._pick("delete", "Delete a saved conversation…")

    def reopen_conversation(self, saved: SavedConversation) -> None:
        """Show a saved conversation, its answers and citations, and continue it: the next
        question may be a follow-up of its last."""
        try:
            turns = self.history.load(saved.path)
        except QAError as exc:
            self.notify(f"Cannot open that conversation: {exc}", severity="error", markup=False)
            return
        self.clear_chat()
        if self.conversation is not None:
            self.conversation.restore(turns)
        self.history_path, self.history_owned = saved.path, True
        chat = self.query_one("#chat", ListView)
        shown = [Turn(question) for question, _ in turns]
        chat.extend(shown)
        for turn, (_, answer) in zip(shown, turns, strict=True):
            turn.call_after_refresh(turn.show_answer, answer)  # once each turn is composed
        self._show_welcome(empty=not shown)
        if shown:
            chat.index = len(shown) - 1
            self.show_sources(turns[-1][1])
        if self.index is not None and saved.corpus and saved.corpus != str(self.index.corpus):
            self.notify(f"This conversation was with {saved.corpus}: its sources open only if the open corpus has them.",
                        severity="warning", markup=False)
        self.notify(f"Reopened: {_label(saved)}", markup=False)

    def confirm_delete(self, saved: SavedConversation) -> None:
        def answered(yes: bool | None) -> None:
            if not yes:
                return
            try:
                self.history.delete(saved.path)
            except QAError as exc:
                self.notify(str(exc), severity="error", markup=False)
                return
            if saved.path == self.history_path:
                self.history_path, self.history_owned = None, False  # not recreated behind the user's back
            self.notify(f"Deleted: {_label(saved)}", markup=False)

        self.push_screen(ConfirmScreen(f"Delete the saved conversation \u201c{_label(saved)}\u201d?\n"
                                       f"({saved.questions} question(s); the file {saved.path} is removed)"),
                         answered)

    def selected_answer(self) -> Answer | None:
        chat = self.query_one("#chat", ListView)
        item = chat.highlighted_child
        if isinstance(item, Turn) and item.answer is not None:
            return item.answer
        answered = [t.answer for t in chat.query(Turn) if t.answer is not None]
        return answered[-1] if answered else None

    def action_copy_answer(self) -> None:
        answer = self.selected_answer()
        if answer is None:
            self.notify("No answer to copy yet.", severity="warning", markup=False)
            return
        self.copy_to_clipboard(clipboard_text(answer))
        self.notify("Answer copied to the clipboard.", markup=False)

    def action_explain(self) -> None:
        answer = self.selected_answer()
        if answer is None:
            self.notify("No answer to explain yet.", severity="warning", markup=False)
            return
        self.push_screen(ExplainScreen(answer))

    # -- export ---------------------------------------------------------------------------
    def action_export(self) -> None:
        if self.conversation is None or not self.conversation.turns:
            self.notify("Nothing to export yet.", severity="warning", markup=False)
            return
        default = self.export_dir / time.strftime("qa-conversation-%Y%m%d-%H%M%S.md")
        self.push_screen(ExportScreen(default, self.export_to))

    def export_to(self, path: Path) -> str | None:
        """Write the conversation to ``path``; the reason it could not be, else None. Replaces
        only a file this session exported; never writes through a symbolic link."""
        if self.conversation is None:
            return "Nothing to export."
        taken = f"{path} already exists: qa does not overwrite files it did not create. Choose another name."
        mine = path in self.exported and is_regular_file(path)
        if not mine and (path.exists() or path.is_symlink()):
            return taken
        try:
            write_file(path, self.conversation.to_markdown().encode("utf-8"), replace=mine)
        except FileExistsError:
            return taken
        except QAError as exc:
            return str(exc)
        self.exported.add(path)
        self.notify(f"Conversation exported to {path}", markup=False)
        return None

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand("New chat", "Start again (the conversation so far stays saved)", self.action_new_chat)
        yield SystemCommand("Open a saved conversation", "Reopen a conversation, its answers and citations",
                            self.action_open_conversation)
        yield SystemCommand("Delete a saved conversation", "Remove a saved conversation (asks first)",
                            self.action_delete_conversation)
        yield SystemCommand("Export conversation", "Save the conversation and its citations as Markdown", self.action_export)
        yield SystemCommand("Copy answer", "Copy the selected answer with its citations", self.action_copy_answer)
        yield SystemCommand("Explain answer", "Why the selected answer: scores, ranks, choices (x)", self.action_explain)
        yield SystemCommand("Reopen corpus", "Open the corpus again, indexing new or changed files (Ctrl+R)",
                            self.action_reopen)
        yield SystemCommand("Rebuild index", "Re-embed the whole corpus", self.action_rebuild)
        yield SystemCommand("Help", "Show all key bindings", self.action_help)
