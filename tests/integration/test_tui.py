"""The chat, driven by Textual's Pilot against the real index and model."""

from __future__ import annotations

import contextlib
import json
import shutil
import sys

import pytest
from textual.widgets import Static, TextArea

from qa.config import Settings
from qa.safety import markdown_literal
from qa.tui.app import QAApp
from qa.tui.document import DocumentScreen
from qa.tui.screens import HelpScreen
from qa.tui.widgets import (
    QuestionInput,
    SourceItem,
    Turn,
    answer_text,
    clipboard_text,
    source_label,
)

from ..conftest import CORPUS, ROOT

SIZE = (120, 36)


def make_app(index_dir, tmp_path, corpus=CORPUS, data_dir="default") -> QAApp:
    """The app as `qa chat` builds it; its own files (saved conversations, settings) in a
    temporary user data folder, never the real one."""
    data = tmp_path / "user-data" if data_dir == "default" else data_dir
    return QAApp(Settings(corpus=corpus, index_dir=index_dir), export_dir=tmp_path, data_dir=data,
                 cursor_blink=False)


async def settle(pilot) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def ask(pilot, question: str) -> Turn:
    pilot.app.query_one(QuestionInput).focus()
    pilot.app.query_one(QuestionInput).insert(question)
    await pilot.press("enter")
    await settle(pilot)
    return list(pilot.app.query(Turn))[-1]


def rendered(widget: Static) -> str:
    return str(widget.render())


async def test_ask_shows_an_answer_with_its_citations(index_copy, tmp_path):
    app = make_app(index_copy, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        turn = await ask(pilot, "When was the Pyongyang Declaration signed?")
        assert turn.answer is not None and turn.answer.grounded
        assert "20 April 1992" in rendered(turn.query_one(".answer", Static))
        sources = list(app.query(SourceItem))
        assert sources and sources[0].source.path == "pyongyang-declaration-1992.txt"
        assert "pyongyang-declaration-1992.txt:3-3" in rendered(sources[0].query_one(Static))


async def test_opening_a_citation_highlights_the_sentence_at_its_line(index_copy, tmp_path):
    app = make_app(index_copy, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        turn = await ask(pilot, "How many signatories were there in 2017?")
        citation = turn.answer.citations[0]
        await pilot.press("f3", "enter")
        await pilot.pause()
        assert isinstance(app.screen, DocumentScreen)
        area = app.screen.query_one(TextArea)
        assert area.selected_text == citation.quote
        assert area.selection.start[0] == citation.start_line - 1
        assert area.selection.end[0] == citation.end_line - 1
        await pilot.pause()
        view = area.content_region  # screen coordinates, like the cursor's
        assert view.y <= area.cursor_screen_offset.y < view.bottom  # the cited sentence is in view
        await pilot.press("escape")
        assert not isinstance(app.screen, DocumentScreen)


async def test_follow_up_question(index_copy, tmp_path):
    app = make_app(index_copy, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await ask(pilot, "When was the Pyongyang Declaration signed?")
        second = await ask(pilot, "How many parties signed it?")
        assert second.answer.grounded and "69" in second.answer.text
        assert "follow-up" in rendered(second.query_one(".answer", Static))


async def test_refusal_looks_different_and_shows_closest_matches(index_copy, tmp_path):
    app = make_app(index_copy, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        turn = await ask(pilot, "What is the capital of Australia?")
        assert turn.has_class("refusal")
        assert "Closest matches" in str(app.query_one("#sources-title").render())
        assert app.query(SourceItem)


async def test_export_history_new_chat_and_help(index_copy, tmp_path):
    app = make_app(index_copy, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        turn = await ask(pilot, "When was the Pyongyang Declaration signed?")
        await pilot.press("ctrl+s")
        await pilot.pause()
        await pilot.press("enter")  # the default path, as the export dialog fills it in
        await pilot.pause()
        (export,) = tmp_path.glob("qa-conversation-*.md")
        markdown = export.read_text()
        assert "## 1. When was the Pyongyang Declaration signed?" in markdown
        assert markdown_literal(turn.answer.citations[0].quote) in markdown and "pyongyang-declaration-1992.txt:3-3" in markdown
        box = app.query_one(QuestionInput)
        box.focus()
        await pilot.press("up")
        assert box.text == "When was the Pyongyang Declaration signed?"
        await pilot.press("down")
        assert box.text == ""
        box.insert("line one")
        await pilot.press("ctrl+j")
        box.insert("line two")
        assert box.text == "line one\nline two"  # a newline, not a send
        assert len(app.query(Turn)) == 1
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        await pilot.press("ctrl+n")
        assert len(app.query(Turn)) == 0 and app.conversation.turns == []


async def test_first_run_builds_the_index_in_the_app(corpus_copy, tmp_path):
    index_dir = tmp_path / "fresh-index"
    app = make_app(index_dir, tmp_path, corpus=corpus_copy)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert (index_dir / "CURRENT").is_file()
        assert app.index is not None and len(app.index) > 0
        assert f"{len(app.index)} chunks" in str(app.query_one("#info-bar").render())
        turn = await ask(pilot, "How many signatories were there in 2017?")
        assert "300" in turn.answer.text


HOSTILE = (
    "= Hostile document =\n\n"
    "The zebra password manual says [bold]x[/] and [link=file:///etc/passwd]x[/link] are literal. "
    "Zebra terminals get \x1b[31mred\x1b[0m text, \x1b]52;c;cHduZWQ=\x07 clipboard writes, "
    "\x1b]8;;file:///etc/passwd\x07links\x1b]8;;\x07 and \u202eevil\u202c bidi overrides from zebra files.\n"
)


async def test_hostile_document_text_is_shown_literally(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(CORPUS / "pyongyang-declaration-1992.txt", corpus)
    (corpus / "hostile.txt").write_text(HOSTILE)
    app = make_app(tmp_path / "idx", tmp_path, corpus=corpus)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        shown = []
        for question in ("What does the zebra password manual say?", "What do zebra terminals get from zebra files?"):
            turn = await ask(pilot, question)
            shown += [rendered(s.query_one(Static)) for s in app.query(SourceItem)]
            shown.append(rendered(turn.query_one(".answer", Static)))
        everything = "\n".join(shown)
        assert "[bold]x[/]" in everything and "[link=file:///etc/passwd]x[/link]" in everything
        assert "\x1b" not in everything and "\x07" not in everything and "\u202e" not in everything
        assert "\u241b" in everything  # ESC made visible as ␛
        await pilot.press("f3", "enter")
        await pilot.pause()
        area = app.screen.query_one(TextArea)
        assert "[link=file:///etc/passwd]x[/link]" in area.text
        assert "\x1b" not in area.text and "\u241b[31m" in area.text


# -- snapshots (pytest-textual-snapshot): fixed size, no cursor blink, work finished first --

@pytest.fixture()
def snapshot_app(shipped_index_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    return make_app(shipped_index_dir, tmp_path)


def test_snapshot_main_screen_with_answer(snap_compare, snapshot_app):
    async def run_before(pilot):
        await settle(pilot)
        await ask(pilot, "When was the Pyongyang Declaration signed?")
    assert snap_compare(snapshot_app, terminal_size=SIZE, run_before=run_before)


def test_snapshot_document_view(snap_compare, snapshot_app):
    async def run_before(pilot):
        await settle(pilot)
        await ask(pilot, "How many signatories were there in 2017?")
        await pilot.press("f3", "enter")
        await pilot.pause()
    assert snap_compare(snapshot_app, terminal_size=SIZE, run_before=run_before)


def test_snapshot_help_screen(snap_compare, snapshot_app):
    async def run_before(pilot):
        await settle(pilot)
        await pilot.press("f1")
        await pilot.pause()
    assert snap_compare(snapshot_app, terminal_size=SIZE, run_before=run_before)


async def test_answer_words_are_highlighted_in_the_answer_the_source_and_the_document(index_copy, tmp_path):
    app = make_app(index_copy, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        turn = await ask(pilot, "When was the Pyongyang Declaration signed?")
        span = turn.answer.answer_span
        assert span is not None and "1992" in span.text
        body = answer_text(turn.answer)  # the renderable the turn's Static shows
        marked = [body.plain[s.start:s.end] for s in body.spans if "reverse" in str(s.style)]
        assert " ".join(span.text.split()) in marked
        source = next(s for s in app.query(SourceItem) if s.span is not None)
        label = source_label(source.source, source.span)
        assert span.text in [label.plain[s.start:s.end] for s in label.spans if "reverse" in str(s.style)]
        app.query_one("#sources").focus()
        app.query_one("#sources").index = list(app.query(SourceItem)).index(source)
        await pilot.press("enter")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, DocumentScreen)
        area = screen.query_one("#document", TextArea)
        (row, col), (end_row, end_col) = area.marked
        assert area.document.get_line(row)[col:end_col] == span.text  # one line here
        assert any(name == "qa.answer" for name in (h[2] for h in area._highlights[row]))


async def test_ctrl_y_copies_the_selected_answer_with_its_citations(index_copy, tmp_path):
    app = make_app(index_copy, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+y")
        assert app.clipboard == ""  # nothing to copy yet
        first = await ask(pilot, "When was the Pyongyang Declaration signed?")
        await ask(pilot, "How many signatories were there in 2017?")
        app.query_one("#chat").focus()
        await pilot.press("up")  # select the first answer
        await pilot.press("ctrl+y")
        assert app.clipboard == clipboard_text(first.answer)
        assert first.answer.citations[0].quote in app.clipboard and "[1] pyongyang-declaration-1992.txt:3-3" in app.clipboard


def editor_script(tmp_path) -> tuple[str, object]:
    record = tmp_path / "editor-args.json"
    script = tmp_path / "fake-editor"
    script.write_text(f"#!{sys.executable}\nimport json, sys\nopen({str(record)!r}, 'w').write(json.dumps(sys.argv[1:]))\n")
    script.chmod(0o755)
    return str(script), record


async def test_e_opens_the_cited_file_in_editor_at_the_line(index_copy, tmp_path, monkeypatch):
    editor, record = editor_script(tmp_path)
    monkeypatch.setenv("EDITOR", editor + " --wait")
    monkeypatch.delenv("VISUAL", raising=False)
    app = make_app(index_copy, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        turn = await ask(pilot, "How many signatories were there in 2017?")
        citation = turn.answer.citations[0]
        await pilot.press("f3", "enter")
        await pilot.pause()
        assert isinstance(app.screen, DocumentScreen)
        # The headless test driver cannot suspend: the app says so instead of crashing.
        await pilot.press("e")
        await pilot.pause()
        assert isinstance(app.screen, DocumentScreen) and not record.exists()
        assert any("open" in n.message and f"line {citation.start_line}" in n.message for n in app._notifications)
        # Where the terminal can be handed over, the editor gets +LINE and the file.
        monkeypatch.setattr(type(app), "suspend", lambda self: contextlib.nullcontext())
        await pilot.press("e")
        await pilot.pause()
        assert json.loads(record.read_text()) == ["--wait", f"+{citation.start_line}", str(CORPUS / citation.path)]
        monkeypatch.setenv("EDITOR", str(tmp_path / "no-such-editor"))
        await pilot.press("e")  # an editor that is not there is a message, not a crash
        await pilot.pause()
        assert any("Could not start" in n.message for n in app._notifications)
        assert isinstance(app.screen, DocumentScreen)


async def test_palette_rebuild_re_embeds_and_reopens(index_copy, tmp_path):
    app = make_app(index_copy, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        before = app.index.stored.generation.name
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"rebuild")
        await pilot.pause(0.5)
        await pilot.press("enter")
        for _ in range(1200):  # the rebuild runs in a worker: wait for it to report back
            await pilot.pause(0.25)
            if app.index is not None:
                break
        await settle(pilot)
        assert app.index is not None and app.index.built is not None
        assert app.index.built.chunks_embedded == app.index.built.chunks > 0  # everything re-embedded
        assert app.index.stored.generation.name != before
        turn = await ask(pilot, "How many signatories were there in 2017?")
        assert "300" in turn.answer.text


async def test_stale_index_is_updated_at_start_up(index_copy, corpus_copy, tmp_path):
    (corpus_copy / "zebra-note.txt").write_text("The zebra census of 2031 counted 4,512 zebras in the park.\n")
    app = make_app(index_copy, tmp_path, corpus=corpus_copy)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert app.index is not None and app.index.built is not None
        assert app.index.built.files_indexed == ("zebra-note.txt",)
        assert f"{len(app.index.manifest.files)} files" in rendered(app.query_one("#info-bar"))
        turn = await ask(pilot, "How many zebras did the 2031 census count?")
        assert "4,512" in turn.answer.text
