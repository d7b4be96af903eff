"""Watch mode's library part (issue 15): real filesystem events (watchfiles), the fake encoder.
Waits are bounded polls, never timed assertions."""

from __future__ import annotations

import time

import qa

from .conftest import FakeEncoder


def wait_for(condition, seconds: float = 30.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def test_edits_additions_and_deletions_are_re_indexed_and_stop_is_clean(tmp_path):
    corpus = tmp_path / "docs"
    corpus.mkdir()
    (corpus / "okapi.txt").write_text("The okapi sanctuary in Epulu was founded in 1987.\n")
    (corpus / "glacier.txt").write_text("The Rhone glacier retreated by 1.4 km since 1856.\n")
    index_dir = tmp_path / "index"
    fake = FakeEncoder()
    qa.build_index(corpus, index_dir, encoder=fake, export=False)
    events: list[qa.WatchEvent] = []
    watcher = qa.Watcher(corpus, index_dir, encoder=fake, on_event=events.append, debounce_ms=100).start()
    try:
        assert wait_for(lambda: events and events[0].kind == "watching")
        time.sleep(0.3)  # let the OS watch settle in before the first change

        def files() -> set[str]:
            return set(qa.open_index(index_dir, encoder=fake).manifest.files)

        (corpus / "okapi.txt").write_text("The okapi sanctuary in Epulu was founded in 1992.\n")
        (corpus / "notes.md").write_text("# Notes\n\nZebras cross the Mara river in July.\n")
        (corpus / "ignored.bin").write_bytes(b"\x00\x01")  # not a document: no re-index for it
        assert wait_for(lambda: files() == {"okapi.txt", "glacier.txt", "notes.md"})
        index = qa.open_index(index_dir, encoder=fake)
        assert "1992" in index.search("okapi sanctuary founded", k=1)[0].text
        (corpus / "glacier.txt").unlink()
        assert wait_for(lambda: files() == {"okapi.txt", "notes.md"})
        assert wait_for(lambda: any(e.report and e.report.files_removed == ("glacier.txt",) for e in events))
        done = [e for e in events if e.kind == "reindexed"]
        assert done[-1].line().startswith("watching docs/ · re-indexed 1 file at ")
    finally:
        watcher.stop()
    assert not watcher.running  # stopped within the join, not left hanging


def test_a_failing_re_index_is_reported_and_watching_goes_on(tmp_path):
    corpus = tmp_path / "docs"
    corpus.mkdir()
    (corpus / "okapi.txt").write_text("The okapi sanctuary in Epulu was founded in 1987.\n")
    not_a_folder = tmp_path / "index"
    not_a_folder.write_text("a file where the index should go")
    events: list[qa.WatchEvent] = []
    with qa.Watcher(corpus, not_a_folder, encoder=FakeEncoder(), on_event=events.append, debounce_ms=100) as watcher:
        assert wait_for(lambda: bool(events))
        time.sleep(0.3)
        (corpus / "okapi.txt").write_text("The okapi sanctuary in Epulu was founded in 1992.\n")
        assert wait_for(lambda: any(e.kind == "error" for e in events))
        error = next(e for e in events if e.kind == "error")
        assert "is a file, not a folder" in error.message and "re-index failed" in error.line()
        assert watcher.running  # an error is shown, never fatal
    assert not watcher.running
