"""An open chat follows the index (issue 14, item 8): a generation committed by another process
is picked up between questions, and a writer holding the lock does not leave the chat "not
ready". Real index, model and Pilot."""

from __future__ import annotations

import subprocess
import sys

from qa.config import Settings
from qa.tui.app import QAApp

from .test_tui import SIZE, ask, settle

COMMIT = """
import sys
import qa
qa.build_index(sys.argv[1], sys.argv[2], encoder="onnx", export=False)
"""
HOLD_LOCK = """
import sys, time
from pathlib import Path
from qa import store
with store.lock(Path(sys.argv[1])):
    print("locked", flush=True)
    time.sleep(600)
"""
OKAPI = "The okapi sanctuary in Epulu was founded in 1987 by the Congolese wildlife service.\n"


async def test_an_open_chat_picks_up_a_generation_committed_by_another_writer(index_copy, corpus_copy, tmp_path):
    app = QAApp(Settings(corpus=corpus_copy, index_dir=index_copy), export_dir=tmp_path, cursor_blink=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.index is not None
        first = app.index.stored.generation
        (corpus_copy / "okapi-sanctuary.txt").write_text(OKAPI)
        subprocess.run([sys.executable, "-c", COMMIT, str(corpus_copy), str(index_copy)], check=True)
        turn = await ask(pilot, "When was the okapi sanctuary in Epulu founded?")
        assert app.index.stored.generation != first  # before: the chat kept the old generation
        assert turn.answer is not None and turn.answer.grounded
        assert turn.answer.citations[0].path == "okapi-sanctuary.txt" and "1987" in turn.answer.text


async def test_the_chat_is_ready_while_another_writer_holds_the_lock(index_copy, corpus_copy, tmp_path):
    (corpus_copy / "okapi-sanctuary.txt").write_text(OKAPI)  # the chat will want to update
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(index_copy)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        app = QAApp(Settings(corpus=corpus_copy, index_dir=index_copy), export_dir=tmp_path, cursor_blink=False)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            # Before: "another qa index is writing" and the chat stayed not ready for good.
            assert app.conversation is not None and app.failure is None
            turn = await ask(pilot, "When was the Pyongyang Declaration signed?")
            assert turn.answer is not None and turn.answer.grounded
    finally:
        holder.kill()
        holder.wait()
