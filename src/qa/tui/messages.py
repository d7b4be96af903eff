"""What the chat's thread workers post to the app: they never touch a widget themselves."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.message import Message

from qa import Answer, Index

if TYPE_CHECKING:
    from textual.app import App

    from qa import Conversation, WatchEvent
    from qa.tui.widgets import Turn


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


class IndexFailed(Message):
    """The index could not be opened or built: ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__()
        self.reason = reason


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

    def __init__(self, event: WatchEvent) -> None:
        super().__init__()
        self.event = event


class Answered(Message):
    """A turn's answer in ``conversation``, or (``answer`` None) the error ``error``."""

    def __init__(self, turn: Turn, conversation: Conversation, answer: Answer | None, error: str = "") -> None:
        super().__init__()
        self.turn, self.conversation, self.answer, self.error = turn, conversation, answer, error


class Saved(Message):
    """A conversation was written (``error`` empty) or could not be."""

    def __init__(self, error: str = "") -> None:
        super().__init__()
        self.error = error


class PostedProgress:
    """Index progress as messages to the app (called from the worker thread)."""

    def __init__(self, app: App[None]) -> None:
        self.app = app

    def stage(self, name: str, total: int | None = None) -> None:
        self.app.post_message(IndexStage(f"Building the index: {name}…", total))

    def advance(self, n: int = 1) -> None:
        self.app.post_message(IndexAdvance(n))
