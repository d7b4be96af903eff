"""`qa chat --watch` (issue 15): the chat re-indexes an edited file in the background, says so
in the status line, and the next answer cites the new text. Real model, index and Pilot; the
wait is a bounded poll, never a timed assertion."""

from __future__ import annotations

import shutil

from qa.config import Settings
from qa.tui.app import QAApp

from ..conftest import CORPUS
from .test_tui import SIZE, ask, rendered, settle

OKAPI = "The okapi sanctuary in Epulu was founded in 1987 by the Congolese wildlife service.\n"


async def test_watch_picks_up_an_edited_file_and_the_next_answer_cites_it(tmp_path):
    corpus = tmp_path / "docs"
    corpus.mkdir()
    for path in sorted(CORPUS.glob("*.txt"))[:2]:
        shutil.copy(path, corpus / path.name)
    app = QAApp(Settings(corpus=corpus, index_dir=tmp_path / "index"), export_dir=tmp_path,
                cursor_blink=False, watch=True)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.index is not None and app.watcher is not None
        first = app.index.stored.generation
        info = rendered(app.query_one("#info-bar"))
        assert "docs" in info and "index" in info and "watching docs/" in info
        edited = sorted(corpus.iterdir())[0]
        await pilot.pause(0.5)  # the OS watch is in place
        edited.write_text(edited.read_text() + "\n" + OKAPI)
        for _ in range(600):  # bounded: up to ~5 minutes on a loaded machine
            if "re-indexed 1 file" in app.watch_line:
                break
            await pilot.pause(0.5)
        assert "re-indexed 1 file at " in app.watch_line
        assert "re-indexed 1 file" in rendered(app.query_one("#info-bar"))
        turn = await ask(pilot, "When was the okapi sanctuary in Epulu founded?")
        assert app.index.stored.generation != first  # switched to the new generation between questions
        assert turn.answer is not None and turn.answer.grounded and "1987" in turn.answer.text
        assert turn.answer.citations[0].path == edited.name
    assert not app.watcher.running  # stopped on quit
