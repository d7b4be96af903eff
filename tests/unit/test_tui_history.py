"""Saved conversations and the chat's own files: round trip, untrusted files, no link followed."""

from __future__ import annotations

import json
import os

import pytest

from qa.errors import QAError
from qa.tui.history import History, answer_from_dict
from qa.tui.userdata import UserSettings, write_file
from qa.tui.widgets import shorten
from qa.types import Answer, AnswerSpan, Citation, Conflict, Hit

CITATION = Citation(1, "a [bold]b[/].txt", "T", 3, 3, 10, 30, "It was signed in 1992.", 0.9)
HIT = Hit("text", "a.txt", "T", ("H",), 1, 4, 0, 40, 0.5, 1, 7, None, 0.4, 2.5)
ANSWER = Answer("When?", "1992 — It was signed in 1992. [1]", True, (CITATION,), (HIT,), 0.8,
                assumption="read as a follow-up", answer_span=AnswerSpan("1992", "a.txt", 26, 30),
                conflicts=(Conflict((1, 2), "value", ("1992", "1993")),))


def test_a_conversation_round_trips(tmp_path):
    history = History(tmp_path)
    path = history.new_path()
    history.save(path, "/corpus", [("When?", ANSWER)], replace=False)
    (saved,) = history.saved()
    assert saved.title == "When?" and saved.questions == 1 and saved.corpus == "/corpus"
    ((question, answer),) = history.load(path)
    assert question == "When?" and answer.citations == ANSWER.citations and answer.passages == ANSWER.passages
    assert answer.answer_span == ANSWER.answer_span and answer.conflicts == ANSWER.conflicts
    assert answer.assumption == ANSWER.assumption and answer.text == ANSWER.text
    with pytest.raises(QAError, match="already exists"):
        history.save(path, "/corpus", [("When?", ANSWER)], replace=False)  # never overwrites blindly
    history.save(path, "/corpus", [("When?", ANSWER)] * 2, replace=True)
    assert len(json.loads(path.read_text())["turns"]) == 2
    history.delete(path)
    assert not path.exists() and history.saved() == []


@pytest.mark.parametrize("broken", [
    {"citations": [{"n": "1"}]}, {"citations": "x"}, {"grounded": "yes"},
    {"passages": [{"heading_path": [1]}]}, {"conflicts": [{"claims": ["a"], "kind": "value", "values": []}]},
])
def test_a_damaged_answer_is_an_error_not_a_crash(broken):
    data = ANSWER.to_dict() | broken
    with pytest.raises(QAError):
        answer_from_dict(data, "test")


def test_files_that_are_not_ours_are_neither_listed_nor_deleted(tmp_path):
    history = History(tmp_path)
    history.folder.mkdir(parents=True)
    stranger = history.folder / "20200101-000000-abcdef.json"
    stranger.write_text(json.dumps({"turns": []}))
    target = tmp_path / "target.json"
    target.write_text(json.dumps({"format": "qa-conversation", "turns": []}))
    link = history.folder / "20200101-000000-bbbbbb.json"
    os.symlink(target, link)
    assert history.saved() == []
    for path in (stranger, link, tmp_path / "elsewhere.json"):
        with pytest.raises(QAError):
            history.delete(path)
    assert stranger.exists() and target.exists() and link.is_symlink()


def test_writes_never_follow_a_link_or_replace_a_non_file(tmp_path):
    target = tmp_path / "target"
    target.write_text("keep")
    link = tmp_path / "link"
    os.symlink(target, link)
    with pytest.raises(FileExistsError):
        write_file(link, b"x")
    with pytest.raises(QAError, match="no longer a plain file"):
        write_file(link, b"x", replace=True)
    assert target.read_text() == "keep"


def test_settings_survive_a_damaged_file(tmp_path):
    (tmp_path / "tui-settings.json").write_text("{not json")
    settings = UserSettings(tmp_path).load()
    assert settings.problem and settings.get_str("theme") is None
    (tmp_path / "tui-settings.json").unlink()
    UserSettings(tmp_path).load().set("theme", "nord")
    assert UserSettings(tmp_path).load().get_str("theme") == "nord"


def test_shorten_cuts_at_a_word_boundary():
    assert shorten("short.txt", 36) == "short.txt"
    name = "belmoor chronicle of the kingdom and its treaties.txt"
    cut = shorten(name, 30)
    assert cut.endswith("\u2026") and len(cut) <= 30 and name.startswith(cut[:-1])
    assert name[len(cut) - 1] in " -_./"
    assert shorten("x" * 50, 20) == "x" * 19 + "\u2026"  # no boundary: cut where it must be
