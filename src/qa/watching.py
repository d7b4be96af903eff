"""Watch mode: re-index a corpus in the background whenever its files change.

``Watcher`` runs one thread that waits for filesystem events (``watchfiles``: inotify, FSEvents
or ReadDirectoryChangesW, debounced, so a burst of saves is one re-index) on the corpus's
document files, and then runs the ordinary incremental ``build_index``: only the changed files
are re-read and re-embedded, deleted ones drop out, and the new generation is committed
atomically. Readers pick it up between questions with ``Index.refreshed()``. Each re-index (or
its error: errors are reported, never fatal) is told to ``on_event``, from the watcher's
thread. ``stop()`` sets the event watchfiles checks every ``STEP_MS``, so it returns promptly;
the thread is a daemon, so a stuck filesystem can never keep the process from exiting.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from qa import loading
from qa.api import build_index
from qa.embedding import Encoder
from qa.errors import QAError
from qa.indexing import IndexReport
from qa.locations import index_dir_for

DEBOUNCE_MS = 400  # a burst of saves (an editor's write + rename) becomes one re-index
STEP_MS = 50  # how often the stop event is checked
STOP_SECONDS = 5.0


@dataclass(frozen=True)
class WatchEvent:
    """One thing the watcher did: ``kind`` is "watching" (started), "reindexed" or "error"."""

    kind: str
    corpus: Path
    at: float  # time.time()
    files: int = 0  # files re-indexed or removed
    message: str = ""
    report: IndexReport | None = None

    def line(self) -> str:
        """The status line: "watching corpus/ · re-indexed 1 file at 16:42" (the corpus name
        is untrusted: show it with safety.printable_line)."""
        clock = time.strftime("%H:%M", time.localtime(self.at))
        head = f"watching {self.corpus.name}/"
        if self.kind == "reindexed":
            plural = "" if self.files == 1 else "s"
            return f"{head} · re-indexed {self.files} file{plural} at {clock}"
        if self.kind == "error":
            return f"{head} · re-index failed at {clock}: {self.message}"
        return head


class Watcher:
    """Keep the index of ``corpus`` (in ``index_dir``, default its own) up to date.

    Example:
        >>> with qa.Watcher("docs", on_event=lambda e: print(e.line())):
        ...     input("watching; Enter to stop")
    """

    def __init__(self, corpus: str | Path, index_dir: str | Path | None = None, *,
                 on_event: Callable[[WatchEvent], None] | None = None,
                 encoder: str | Encoder = "auto", debounce_ms: int = DEBOUNCE_MS) -> None:
        self.corpus = Path(corpus)
        self.index_dir = Path(index_dir) if index_dir is not None else index_dir_for(self.corpus)
        self.on_event = on_event or (lambda event: None)
        self.encoder = encoder
        self.debounce_ms = debounce_ms
        self.last: WatchEvent | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Watcher:
        """Start watching in a background thread (once)."""
        if not self.corpus.is_dir():
            raise QAError(f"cannot watch {self.corpus}: it is not a folder")
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=f"qa-watch {self.corpus}", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = STOP_SECONDS) -> None:
        """Stop watching and wait (at most ``timeout`` s) for a re-index in progress to end."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def __enter__(self) -> Watcher:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _emit(self, event: WatchEvent) -> None:
        self.last = event
        with contextlib.suppress(Exception):  # a failing listener must not end the watch
            self.on_event(event)

    def _wanted(self, change: object, path: str) -> bool:
        """Only document files qa would index; never the index itself, nor hidden files."""
        name = os.path.basename(path)
        return not name.startswith(".") and os.path.splitext(name)[1].lower() in loading.SUFFIXES

    def _run(self) -> None:
        import watchfiles

        self._emit(WatchEvent("watching", self.corpus, time.time()))
        try:
            for _changes in watchfiles.watch(self.corpus, watch_filter=self._wanted, debounce=self.debounce_ms,
                                             step=STEP_MS, stop_event=self._stop, raise_interrupt=False):
                if self._stop.is_set():
                    break
                self.reindex()
        except Exception as exc:  # the folder vanished, too many watches: say so, end quietly
            self._emit(WatchEvent("error", self.corpus, time.time(), message=f"watching stopped: {exc}"))

    def reindex(self) -> WatchEvent:
        """Bring the index up to date now (what each batch of changes triggers)."""
        try:
            report = build_index(self.corpus, self.index_dir, encoder=self.encoder,
                                 export=isinstance(self.encoder, str))
        except QAError as exc:
            event = WatchEvent("error", self.corpus, time.time(), message=str(exc))
        except Exception as exc:  # never fatal: the next change tries again
            event = WatchEvent("error", self.corpus, time.time(), message=f"{type(exc).__name__}: {exc}")
        else:
            if report.up_to_date:  # e.g. a file saved unchanged: nothing to tell
                return self.last or WatchEvent("watching", self.corpus, time.time())
            files = len(report.files_indexed) + len(report.files_removed)
            event = WatchEvent("reindexed", self.corpus, time.time(), files=files, report=report)
        self._emit(event)
        return event
