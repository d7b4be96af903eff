"""Row 14 of the reliability issue, property-based: whatever a document (or a question) holds,
every path that shows it (CLI answer and search output, JSON, TUI widgets, the exported
Markdown, the clipboard text) shows it literally and passes no control sequence through."""

from __future__ import annotations

import contextlib
import io
import json
import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt
from rich.console import Console
from rich.text import Text
from textual.app import App, ComposeResult
from textual.geometry import Region
from textual.widgets import ListView, Static

from qa.cli import _hit_lines, _print_answer
from qa.conversation import Conversation
from qa.conversation import Turn as ConversationTurn
from qa.safety import markdown_literal, printable, printable_aligned, printable_line, safe_json
from qa.tui.widgets import (
    NAME_WIDTH,
    SourceItem,
    Turn,
    answer_text,
    clipboard_text,
    plain,
    shorten,
    source_label,
)
from qa.types import Answer, Citation, Hit

from ..unit.test_safety import HOSTILE, UNSAFE

# Markdown that would go live in an export: bare URLs, www., e-mail (linkify/GFM autolinks),
# and line starts that make a list, a rule or a setext heading.
MARKDOWN_HOSTILE = ["https://evil.example/x?a=1", "www.evil.com", "mail me@evil.com", "mailto:x@y.z",
                    "1. ", "7) ", "- ", "+ ", "---", "===", "[x](http://y)", "![i](http://y/i.png)",
                    "<https://z>", "``", "~~gone~~", "| a | b |"]
fragment = (st.text(alphabet=st.characters(codec="utf-8"), max_size=30) | st.sampled_from(HOSTILE)
            | st.sampled_from(MARKDOWN_HOSTILE))
untrusted = st.lists(fragment, min_size=1, max_size=4).map("".join)
line = st.integers(min_value=1, max_value=10_000)
page = st.none() | st.integers(min_value=1, max_value=500)

citations = st.builds(
    Citation, n=st.integers(1, 9), path=untrusted, title=untrusted, start_line=line, end_line=line,
    start_char=st.just(0), end_char=st.just(1), quote=untrusted, score=st.floats(0, 1), page=page,
)
hits = st.builds(
    Hit, text=untrusted, path=untrusted, title=untrusted, heading_path=st.tuples(untrusted),
    start_line=line, end_line=line, start_char=st.just(0), end_char=st.just(1),
    score=st.floats(0, 1), rank=st.integers(1, 9), chunk_id=st.integers(0, 99), page=page,
)


@st.composite
def answers(draw: st.DrawFn) -> Answer:
    grounded = draw(st.booleans())
    return Answer(
        question=draw(untrusted), text=draw(untrusted), grounded=grounded,
        citations=tuple(draw(st.lists(citations, min_size=1, max_size=3))) if grounded else (),
        passages=tuple(draw(st.lists(hits, max_size=3))), confidence=draw(st.floats(0, 1)),
        assumption=draw(st.none() | untrusted),
    )


def squeeze(text: str) -> str:
    """Whitespace-free form: wrapping and line breaks may move spaces, never other characters."""
    return "".join(text.split())


def shown_literally(value: str, output: str) -> bool:
    return squeeze(printable(value)) in squeeze(output)


def shown_on_one_line(value: str, output: str) -> bool:
    """Names (titles, paths) are printed on one line: newlines and tabs as ␊ and ␉."""
    return squeeze(printable_line(value)) in squeeze(output)


_OWN_SGR = re.compile(r"\x1b\[[0-9;]*m")  # the colours the renderer itself emits


def terminal_bytes(renderable: Text) -> str:
    console = Console(file=io.StringIO(), force_terminal=True, color_system="truecolor", width=120)
    console.print(renderable)
    return console.file.getvalue()  # type: ignore[attr-defined]


@settings(deadline=None)  # no timed assertions: the CPU is shared
@given(answers())
def test_cli_answer_output(answer):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        _print_answer(answer)
    printed = out.getvalue()
    assert not UNSAFE.search(printed)
    assert shown_literally(answer.text, printed)
    for c in answer.citations:
        assert shown_literally(c.quote, printed) and shown_on_one_line(c.title, printed)
        assert shown_on_one_line(c.location, printed)
    if not answer.grounded:
        for h in answer.passages:
            assert shown_on_one_line(h.title, printed) and shown_on_one_line(h.location, printed)


@settings(deadline=None)
@given(hits)
def test_cli_search_lines(hit):
    printed = "\n".join(printable(x) for x in _hit_lines(hit))
    assert not UNSAFE.search(printed)
    assert shown_on_one_line(hit.title, printed) and shown_on_one_line(hit.location, printed)


@given(answers())
def test_json_output_round_trips_without_raw_controls(answer):
    encoded = safe_json(answer.to_dict())
    assert not UNSAFE.search(encoded)
    decoded = json.loads(encoded)
    assert decoded["answer"] == answer.text and decoded["question"] == answer.question
    assert [c["quote"] for c in decoded["citations"]] == [c.quote for c in answer.citations]


@given(answers())
def test_tui_renderables_are_plain_text(answer):
    renderables = [answer_text(answer), plain(f"You: {answer.question}")]
    renderables += [source_label(c) for c in answer.citations] + [source_label(h) for h in answer.passages]
    for renderable in renderables:
        # No markup was parsed: every style span is one qa itself set, and none is a link.
        assert all("link" not in str(span.style) for span in renderable.spans)
        assert not UNSAFE.search(_OWN_SGR.sub("", terminal_bytes(renderable)))
    assert shown_literally(answer.text, renderables[0].plain)
    assert shown_literally(answer.question, renderables[1].plain)
    for c, label in zip(answer.citations, renderables[2:], strict=False):
        # The pane shows what a reader sees of the quote, and a long path shortened (the full
        # one is in the tooltip); both still literally.
        location = printable_line(f"{shorten(c.path, NAME_WIDTH)}:{c.start_line}-{c.end_line}")
        assert shown_literally(c.text, label.plain) and shown_literally(location, label.plain)


MARKDOWN = MarkdownIt("gfm-like")  # GFM tables, strikethrough and linkify (bare URLs)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(st.lists(answers(), min_size=1, max_size=3))
def test_markdown_export_and_clipboard(shipped_index, conversation_answers):
    conversation = Conversation(shipped_index)
    conversation.turns = [ConversationTurn(a.question, a) for a in conversation_answers]
    exported = conversation.to_markdown()
    assert not UNSAFE.search(exported)
    # Only qa's own structure is Markdown: rendered with linkify on, document text makes no
    # link, image, HTML tag, emphasis, list or rule; only paragraphs and (for URL-like words)
    # literal code spans.
    for line in exported.splitlines()[4:]:
        line = re.sub(r"^(## \d+\. |- )|^\*\(|\)\*$", "", line)  # qa's headings, bullets, italics
        assert set(re.findall(r"<(\w+)", MARKDOWN.render(line))) <= {"p", "code"}, line
    for answer in conversation_answers:
        assert squeeze(markdown_literal(answer.text)) in squeeze(exported)
        copied = clipboard_text(answer)
        assert not UNSAFE.search(copied) and shown_literally(answer.text, copied)


@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=200) | st.sampled_from(HOSTILE))
def test_document_view_keeps_offsets(text):
    shown = printable_aligned(text)
    assert len(shown) == len(text)  # the cited span is highlighted by character offset
    assert not UNSAFE.search(shown)
    assert shown.count("\n") == text.count("\n")


class _Host(App[None]):
    """The conversation and sources panes of the chat screen, fed answers directly."""

    def compose(self) -> ComposeResult:
        yield ListView(id="conversation")
        yield ListView(id="sources")


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(answers())
async def test_tui_screen_shows_hostile_text_literally(answer):
    app = _Host()
    async with app.run_test(size=(160, 60)) as pilot:
        turn = Turn(answer.question)
        await app.query_one("#conversation", ListView).append(turn)
        await turn.show_answer(answer)
        sources = app.query_one("#sources", ListView)
        for source in answer.citations or answer.passages:
            await sources.append(SourceItem(source, source_label(source)))
        await pilot.pause()
        screen_text = ""
        for widget in app.query(Static):
            strips = widget.render_lines(Region(0, 0, widget.size.width, widget.size.height))
            screen_text += "\n".join(strip.text for strip in strips) + "\n"
            for strip in strips:
                assert all(not (seg.style and seg.style.link) for seg in strip)
        assert not UNSAFE.search(screen_text)
        assert shown_literally(f"You: {answer.question}", screen_text)
        assert shown_literally(answer.text, screen_text)
        for c in answer.citations:
            assert shown_literally(c.quote, screen_text)
