"""Regenerate the README's screenshots of the chat (SVG, from a real app driven by Pilot):

    python docs/screenshots.py

welcome.svg (first run), chat.svg (an answer with its sources), document-view.svg (the cited
document, the answer words highlighted) and watch.svg (watch mode's status line after an edit),
all on a copy of the shipped corpus in a temporary folder.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
SIZE = (150, 42)


async def shoot() -> None:
    from textual.widgets import ListView

    from qa import Settings
    from qa.tui.app import QAApp
    from qa.tui.widgets import QuestionInput

    work = Path(tempfile.mkdtemp(prefix="qa-screenshots-"))
    try:
        corpus = work / "corpus"
        shutil.copytree(ROOT / "corpus", corpus)

        def app(watch: bool = False) -> QAApp:
            return QAApp(Settings(corpus=corpus, index_dir=work / "index"), export_dir=work,
                         data_dir=work / "user-data", cursor_blink=False, watch=watch)

        async def settle(pilot) -> None:
            for _ in range(2):
                await pilot.app.workers.wait_for_complete()
                await pilot.pause()

        async def ask(pilot, question: str) -> None:
            pilot.app.query_one(QuestionInput).insert(question)
            await pilot.press("enter")
            await settle(pilot)

        first = app()
        async with first.run_test(size=SIZE) as pilot:
            await settle(pilot)
            first.save_screenshot("welcome.svg", str(DOCS))
            await ask(pilot, "How many parties originally signed the Pyongyang Declaration?")
            first.save_screenshot("chat.svg", str(DOCS))
            sources = first.query_one("#sources", ListView)
            sources.focus()
            sources.index = 0
            await pilot.press("enter")
            await settle(pilot)
            first.save_screenshot("document-view.svg", str(DOCS))
        watching = app(watch=True)
        async with watching.run_test(size=SIZE) as pilot:
            await settle(pilot)
            path = corpus / "pyongyang-declaration-1992.txt"
            path.write_text(path.read_text(encoding="utf-8") + "\nThe declaration was read aloud in 2024.\n",
                            encoding="utf-8")
            for _ in range(200):  # bounded: the watcher debounces, then re-indexes in a thread
                await pilot.pause(0.1)
                if watching.watch_line:
                    break
            await settle(pilot)
            await ask(pilot, "When was the declaration read aloud?")
            watching.save_screenshot("watch.svg", str(DOCS))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "src"))
    asyncio.run(shoot())
