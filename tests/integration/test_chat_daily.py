"""The chat people keep open all day (issue 15) and answers they can audit in it (issue 16):
scrolling, exclusive answering, the welcome, saved conversations, export, themes, find in a
document, long names, the disagreement warning and the explain view. Real index, real model,
a real Textual app driven by Pilot."""

from __future__ import annotations

import json
import os
import threading

from textual.widgets import Input, ListView, Static

import qa
from qa.tui.app import QAApp
from qa.tui.dialogs import ConfirmScreen, ExplainScreen, ExportScreen
from qa.tui.document import DocumentScreen
from qa.tui.widgets import NAME_WIDTH, QuestionInput, SourceItem, Turn

from .test_tui import SIZE, ask, make_app, rendered, settle

FIRST = "When was the Pyongyang Declaration signed?"
FOLLOW_UP = "How many parties signed it?"


def newest_in_view(chat: ListView, turn: Turn) -> bool:
    """The newest answer is in view: all of it, or from its question down when taller."""
    view_top, view_height = chat.scroll_y, chat.scrollable_content_region.height
    box = turn.virtual_region
    return view_top <= box.y and (box.bottom <= view_top + view_height or box.y == view_top)


async def eventually_in_view(pilot, chat: ListView, turn: Turn) -> bool:
    for _ in range(100):  # bounded: the scroll runs after the refresh that lays the answer out
        if newest_in_view(chat, turn):
            return True
        await pilot.pause(0.05)
    return newest_in_view(chat, turn)


async def test_the_chat_scrolls_to_the_newest_answer(index_copy, tmp_path):
    app = make_app(index_copy, tmp_path)
    async with app.run_test(size=(100, 24)) as pilot:
        await settle(pilot)
        chat = app.query_one("#chat", ListView)
        for question in (FIRST, "How many signatories were there in 2017?", FIRST,
                         "What is the capital of Australia?"):
            turn = await ask(pilot, question)
            assert await eventually_in_view(pilot, chat, turn)
        assert chat.max_scroll_y > 0  # the conversation is longer than the pane


async def test_the_chat_follows_the_newest_answer_when_it_grows_after_the_scroll(index_copy, tmp_path):
    # CI failed once with the answer's end below the pane: its layout finished after the one
    # scroll made on answering. The newest turn is followed as it grows, until another is chosen.
    app = make_app(index_copy, tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        chat = app.query_one("#chat", ListView)
        for question in (FIRST, FIRST, FIRST, FIRST):
            turn = await ask(pilot, question)
        assert await eventually_in_view(pilot, chat, turn)
        assert chat.max_scroll_y > 0 and turn.virtual_region.height + 4 < chat.scrollable_content_region.height
        height = turn.virtual_region.height
        await turn.mount(Static("a line laid out late\n" * 4, classes="answer"))
        for _ in range(100):  # bounded: until the late lines are laid out
            if turn.virtual_region.height > height:
                break
            await pilot.pause(0.05)
        assert turn.virtual_region.height > height
        assert await eventually_in_view(pilot, chat, turn)
        chat.index = 0  # the reader goes back to the first answer: no more following
        await pilot.pause()
        first_top = chat.scroll_y
        await turn.mount(Static("one more late line", classes="answer"))
        await pilot.pause(0.2)
        assert chat.scroll_y == first_top


async def test_a_quick_follow_up_is_queued_and_keeps_its_follow_up_reading(index_copy, tmp_path, monkeypatch):
    # The real index and model; a gate holds answering until the second question is sent, so
    # "sent while the first is being answered" happens every run, not by chance.
    gate = threading.Event()
    answer = qa.Index.answer

    def gated(self, *args, **kwargs):
        gate.wait()
        return answer(self, *args, **kwargs)

    app = make_app(index_copy, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        monkeypatch.setattr(qa.Index, "answer", gated)
        box = app.query_one(QuestionInput)
        box.focus()
        box.insert(FIRST)
        await pilot.press("enter")
        box.insert(FOLLOW_UP)
        await pilot.press("enter")  # while the first is still being answered
        await pilot.pause()
        first, second = app.query(Turn)
        assert app.answering is first and second.has_class("queued")
        assert "queued" in rendered(second.query_one(".status", Static))
        gate.set()
        await settle(pilot)
        assert first.answer is not None and second.answer is not None
        assert [t.question for t in app.conversation.turns] == [FIRST, FOLLOW_UP]  # never interleaved
        assert second.answer.assumption == f"read as a follow-up to \u201c{FIRST}\u201d"
        assert second.answer.grounded and "69" in second.answer.text
        assert not second.has_class("queued")


async def test_welcome_says_what_qa_is_the_corpus_and_how_to_ask(index_copy, tmp_path):
    app = make_app(index_copy, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        welcome = app.query_one("#welcome", Static)
        text = rendered(welcome)
        assert welcome.display and "Welcome to qa" in text and "F1" in text and "Enter" in text
        assert str(app.index.corpus) in text and f"{len(app.index.manifest.files)} files" in text
        await ask(pilot, FIRST)
        assert not welcome.display
        await pilot.press("ctrl+n")
        assert welcome.display


async def test_an_empty_corpus_shows_what_to_do_and_ctrl_r_indexes_what_was_added(index_copy, tmp_path):
    corpus = tmp_path / "empty"
    corpus.mkdir()
    app = make_app(tmp_path / "idx", tmp_path, corpus=corpus)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        text = rendered(app.query_one("#welcome", Static))
        assert "Nothing to answer from" in text and str(corpus) in text
        assert all(suffix in text for suffix in qa.DOCUMENT_SUFFIXES) and "qa chat --corpus" in text
        assert "Ctrl+R" in text
        app.query_one(QuestionInput).insert(FIRST)
        await pilot.press("enter")  # a question is answered with what to do, not a stuck screen
        await pilot.pause()
        assert not app.query(Turn) and any("Nothing to answer from" in n.message for n in app._notifications)
        (corpus / "note.txt").write_text("The zebra census of 2031 counted 4,512 zebras in the park.\n")
        await pilot.press("ctrl+r")
        for _ in range(2400):  # the first build runs in a worker: wait for it to report back
            await pilot.pause(0.25)
            if app.index is not None or app.failure:
                break
        await settle(pilot)
        assert app.index is not None and "Welcome to qa" in rendered(app.query_one("#welcome", Static))
        turn = await ask(pilot, "How many zebras did the 2031 census count?")
        assert "4,512" in turn.answer.text


async def test_a_missing_corpus_shows_what_to_do(tmp_path):
    missing = tmp_path / "no-such-folder"
    app = make_app(tmp_path / "idx", tmp_path, corpus=missing)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        text = rendered(app.query_one("#welcome", Static))
        assert "Nothing to answer from" in text and f"{missing} (does not exist)" in text
        assert ".txt" in text and "qa chat --corpus FOLDER" in text
        assert app.failure and not missing.exists()  # `qa chat` exits 1 on quit; nothing made


async def palette(pilot, command: str) -> None:
    await pilot.press("ctrl+p")
    await pilot.pause()
    await pilot.press(*command)
    await pilot.pause(0.5)
    await pilot.press("enter")
    await pilot.pause(0.5)


async def test_conversations_are_saved_reopened_after_a_restart_and_deleted(index_copy, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    folder = tmp_path / "xdg" / "qa" / "conversations"
    app = make_app(index_copy, tmp_path, data_dir=None)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        turn = await ask(pilot, FIRST)
        await settle(pilot)
        (saved,) = folder.glob("*.json")
        record = json.loads(saved.read_text())  # human-readable JSON, one file per conversation
        assert record["format"] == "qa-conversation" and record["turns"][0]["question"] == FIRST
        assert record["turns"][0]["answer"]["citations"][0]["quote"] == turn.answer.citations[0].quote
        await ask(pilot, "How many signatories were there in 2017?")
        await settle(pilot)
        assert len(json.loads(saved.read_text())["turns"]) == 2 and len(list(folder.glob("*.json"))) == 1

    again = make_app(index_copy, tmp_path, data_dir=None)  # a restart
    async with again.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await palette(pilot, "open a saved")
        await pilot.press("enter")  # the newest (only) saved conversation
        await settle(pilot)
        shown = list(again.query(Turn))
        assert [t.question for t in shown] == [FIRST, "How many signatories were there in 2017?"]
        assert "20 April 1992" in rendered(shown[0].query_one(".answer", Static))
        sources = list(again.query(SourceItem))  # the last answer's citations
        assert sources and "300" in sources[0].source.quote
        follow = await ask(pilot, FOLLOW_UP)  # the reopened conversation goes on
        assert follow.answer.assumption is not None
        await settle(pilot)
        assert len(json.loads(saved.read_text())["turns"]) == 3
        stranger = folder / "20200101-000000-abcdef.json"
        stranger.write_text("not ours")  # a file that is not a saved conversation is never listed
        await palette(pilot, "delete a saved")
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(again.screen, ConfirmScreen)
        await pilot.press("n")  # no: kept
        assert saved.exists()
        await palette(pilot, "delete a saved")
        await pilot.press("enter")
        await pilot.pause()
        await pilot.press("y")
        await pilot.pause()
        assert not saved.exists() and stranger.read_text() == "not ours"


async def test_export_asks_where_and_never_overwrites_or_follows_links(index_copy, tmp_path):
    app = make_app(index_copy, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await ask(pilot, FIRST)
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, ExportScreen)
        field = app.screen.query_one("#export-path", Input)
        assert field.value.startswith(str(tmp_path / "qa-conversation-")) and field.value.endswith(".md")

        async def export_to(path) -> str:
            field.value = str(path)
            await pilot.press("enter")
            await pilot.pause()
            return rendered(app.screen.query_one("#export-error", Static)) if isinstance(app.screen, ExportScreen) else ""

        theirs = tmp_path / "theirs.md"
        theirs.write_text("someone's notes")
        assert "already exists" in await export_to(theirs)
        assert theirs.read_text() == "someone's notes"
        target = tmp_path / "target.md"
        target.write_text("the link's target")
        link = tmp_path / "link.md"
        os.symlink(target, link)
        assert "already exists" in await export_to(link)
        dangling = tmp_path / "dangling.md"
        os.symlink(tmp_path / "nowhere.md", dangling)
        assert await export_to(dangling) and not (tmp_path / "nowhere.md").exists()
        assert target.read_text() == "the link's target"
        assert "cannot write" in await export_to(tmp_path / "no-such-dir" / "x.md")
        assert isinstance(app.screen, ExportScreen)  # errors are shown, the dialog stays
        mine = tmp_path / "mine.md"
        assert await export_to(mine) == "" and not isinstance(app.screen, ExportScreen)
        assert "## 1. When was the Pyongyang Declaration signed?" in mine.read_text()
        await pilot.press("escape")


async def test_the_theme_chosen_in_the_palette_is_remembered(index_copy, tmp_path):
    app = make_app(index_copy, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        default = app.theme
        await palette(pilot, "theme")
        await pilot.press(*"nord")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await pilot.pause()
        assert app.theme == "nord" != default
    settings = json.loads((tmp_path / "user-data" / "tui-settings.json").read_text())
    assert settings["theme"] == "nord"
    again = make_app(index_copy, tmp_path)
    async with again.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert again.theme == "nord"
        await settle(pilot)


async def test_find_in_the_document_steps_through_matches(index_copy, tmp_path):
    app = make_app(index_copy, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await ask(pilot, "How many signatories were there in 2017?")
        await pilot.press("f3", "enter")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, DocumentScreen)
        area = screen.query_one("#document")
        expected = area.text.lower().count("signator")
        assert expected >= 2
        await pilot.press("slash")
        await pilot.press(*"Signator", "enter")
        await pilot.pause()
        status = screen.query_one("#find-status", Static)
        first = screen.current
        assert f"match {first + 1} of {expected}" in rendered(status)
        assert area.selected_text.lower() == "signator"
        await pilot.press("n")
        assert screen.current == (first + 1) % expected and f"match {screen.current + 1} of" in rendered(status)
        await pilot.press("N")
        assert screen.current == first
        await pilot.press("ctrl+f")
        assert screen.query_one("#find", Input).has_focus
        await pilot.press("escape")  # leaves the find box, not the document
        assert isinstance(app.screen, DocumentScreen)
        await pilot.press("escape")
        assert not isinstance(app.screen, DocumentScreen)


LONG = "belmoor chronicle of the kingdom and its treaties with arland.txt"
WESTBROOK = {
    "westbrook-treaty.txt": "= Treaty of Westbrook =\n\nThe Treaty of Westbrook was signed on 12 March 1854 "
                            "by the kingdoms of Arland and Belmoor after two years of talks.\n",
    LONG: "= The Belmoor chronicle =\n\nAccording to the Belmoor chronicle, the Treaty of "
          "Westbrook was signed on 3 June 1861 in the town hall of Westbrook.\n",
}


async def test_disagreeing_sources_warn_and_x_explains_the_answer(index_copy, tmp_path):
    corpus = tmp_path / "westbrook"
    corpus.mkdir()
    for name, text in WESTBROOK.items():
        (corpus / name).write_text(text, encoding="utf-8")
    app = make_app(index_copy, tmp_path, corpus=corpus)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        turn = await ask(pilot, "When was the Treaty of Westbrook signed?")
        (conflict,) = turn.answer.conflicts
        (line,) = turn.query(".conflict")
        warning = rendered(line)
        assert "the sources disagree" in warning
        assert all(f"[{n}]" in warning for n in conflict.claims) and "1854" in warning and "1861" in warning
        # a long file name is shortened at a word boundary, the full name in the tooltip
        item = next(s for s in app.query(SourceItem) if s.source.path == LONG)
        label = rendered(item.query_one(Static)).splitlines()[0]
        assert LONG not in label and "\u2026:" in label
        shown = label.split("\u2026:")[0].split("] ", 1)[1]
        assert LONG.startswith(shown) and LONG[len(shown)] in " -_./" and len(shown) < NAME_WIDTH
        assert LONG in str(item.tooltip)
        app.query_one("#chat").focus()
        await pilot.press("x")
        await pilot.pause()
        assert isinstance(app.screen, ExplainScreen)
        text = rendered(app.screen.query_one("#explain-text", Static))
        ex = turn.answer.explain.to_dict()
        assert f"Why: {ex['decision']}" in text and "Retrieved passages" in text
        for p in ex["passages"]:
            assert f"{p['path']}:{p['start_line']}-{p['end_line']}" in text
        assert f"[{ex['candidates'][0]['citation']}] chosen" in text and "why:" in text
        await pilot.press("escape")
        refusal = await ask(pilot, "What is the capital of Australia?")
        app.query_one("#chat").focus()
        await pilot.press("x")
        await pilot.pause()
        text = rendered(app.screen.query_one("#explain-text", Static))
        assert "Why: refused" in text and f"Threshold {refusal.answer.explain.threshold:.3f}" in text


def test_app_is_built_with_its_data_dir_from_xdg(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    app = QAApp(qa.Settings(corpus=tmp_path, index_dir=tmp_path / "idx"))
    assert app.data_dir == tmp_path / "qa" and app.history.folder == tmp_path / "qa" / "conversations"
