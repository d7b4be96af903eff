"""The index folder is qa's only when qa can prove it (issue 14, items 1, 2, 5, 6): nothing is
deleted or written through a link in a folder qa did not create, folder problems are one-line
errors, and an opened index survives commits by another process."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import qa
from qa import disk, store
from qa.cli import cli
from qa.encoder_policy import MODELS_DIR
from qa.errors import ConfigError, QAError

ONE_DOC = "The lighthouse keeper logs the weather every morning at six.\n"


def small_corpus(root: Path) -> Path:
    corpus = root / "corpus"
    corpus.mkdir()
    (corpus / "keeper.txt").write_text(ONE_DOC)
    return corpus


def user_folder(path: Path) -> dict[str, bytes]:
    """A folder of someone's files whose names look like qa's."""
    files = {"gen-000001/thesis.tex": b"chapter 1", "gen-photos/cat.jpg": b"\xff\xd8",
             ".tmp-123-456/draft.txt": b"draft", ".tmp-notes": b"notes", "notes.txt": b"keep me"}
    for name, data in files.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_bytes(data)
    return files


def assert_untouched(path: Path, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        assert (path / name).read_bytes() == data, name


def test_a_folder_that_is_not_a_qa_index_is_refused_and_left_untouched(tmp_path):
    target = tmp_path / "mine"
    target.mkdir()
    files = user_folder(target)
    corpus = small_corpus(tmp_path)
    result = CliRunner().invoke(cli, ["index", str(corpus), "--index-dir", str(target), "--encoder", "torch"])
    assert result.exit_code == 1
    assert "is not empty and is not a qa index" in result.output and len(result.output.strip().splitlines()) == 1
    assert_untouched(target, files)
    assert sorted(p.name for p in target.iterdir()) == [".tmp-123-456", ".tmp-notes", "gen-000001", "gen-photos", "notes.txt"]


def test_a_commit_deletes_only_names_qa_gives(index_copy):
    """Inside a qa index, a user's gen-photos/ or .tmp-notes is not qa's and survives pruning."""
    files = {"gen-photos/cat.jpg": b"\xff\xd8", ".tmp-notes": b"notes", "gen-1/x": b"x"}
    for name, data in files.items():
        (index_copy / name).parent.mkdir(parents=True, exist_ok=True)
        (index_copy / name).write_bytes(data)
    stored = qa.open_index(index_copy).stored
    for _ in range(3):  # enough commits to prune every older generation
        store.write_generation(index_copy, stored.chunks, stored.vectors(), stored.manifest)
    assert_untouched(index_copy, files)
    assert len(store._generations(index_copy)) == 2


def test_an_index_from_before_the_marker_is_still_updated(index_copy, corpus_copy):
    (index_copy / disk.MARKER).unlink()
    store.claim(index_copy)  # CURRENT names a generation with qa's manifest: it is qa's
    assert (index_copy / disk.MARKER).is_file()


@pytest.mark.parametrize("name", [".lock", "CURRENT.tmp", disk.MARKER])
def test_a_planted_symlink_in_the_index_folder_is_never_written_through(index_copy, tmp_path, name):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    link = index_copy / name
    if link.exists():
        link.unlink()
    link.symlink_to(victim)
    stored = qa.open_index(index_copy).stored
    with pytest.raises(ConfigError, match="symbolic link inside the index folder"), store.lock(index_copy):
        pass
    with pytest.raises(ConfigError, match="symbolic link"):
        store.write_generation(index_copy, stored.chunks, stored.vectors(), stored.manifest)
    assert victim.read_text() == "precious"


def test_every_file_is_created_exclusively_and_never_through_a_link(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (tmp_path / "staged").symlink_to(victim)
    with pytest.raises(OSError) as raised:
        disk.write_file(tmp_path / "staged", b"overwritten")
    assert raised.value.errno in (errno.EEXIST, errno.ELOOP)
    assert victim.read_text() == "precious"


def test_index_dir_that_is_a_file_is_a_one_line_error(tmp_path):
    a_file = tmp_path / "file"
    a_file.write_text("not a folder")
    corpus = small_corpus(tmp_path)
    for args in (["index", str(corpus)], ["search", "weather"], ["ask", "When does the keeper log?"]):
        result = CliRunner().invoke(cli, [*args, "--index-dir", str(a_file)])
        assert result.exit_code == 1, result.output
        assert "is a file, not a folder" in result.output and len(result.output.strip().splitlines()) == 1
    assert a_file.read_text() == "not a folder"


@pytest.mark.parametrize("err", [errno.EROFS, errno.ENOSPC, errno.EACCES])
def test_a_read_only_or_full_disk_before_staging_is_a_one_line_error(tmp_path, monkeypatch, err):
    class Failing(disk.FileSystem):
        def create(self, path):
            raise OSError(err, os.strerror(err), str(path))

    monkeypatch.setattr(disk, "fs", Failing())
    corpus = small_corpus(tmp_path)
    result = CliRunner().invoke(cli, ["index", str(corpus), "--index-dir", str(tmp_path / "new"), "--encoder", "torch"])
    assert result.exit_code == 1
    assert os.strerror(err) in result.output and len(result.output.strip().splitlines()) == 1


def test_an_index_folder_that_cannot_be_created_is_a_one_line_error(tmp_path):
    corpus = small_corpus(tmp_path)
    result = CliRunner().invoke(cli, ["index", str(corpus), "--index-dir", "/proc/self/no/such/index"])
    assert result.exit_code == 1 and "cannot create the index folder" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_a_deeply_nested_manifest_is_the_typed_corruption_error(index_copy):
    manifest = store.current_generation(index_copy) / store.MANIFEST
    manifest.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(qa.errors.IndexCorruptError):
        qa.open_index(index_copy)


COMMIT = """
import sys
import qa
qa.build_index(sys.argv[1], sys.argv[2], encoder="onnx", export=False)
"""


def test_an_opened_index_survives_two_commits_by_another_process(index_copy, corpus_copy):
    index = qa.open_index(index_copy)
    before = {mode: index.search("Pyongyang Declaration", k=3, mode=mode) for mode in ("lexical", "hybrid")}
    for round_ in range(2):
        with open(corpus_copy / "pyongyang-declaration-1992.txt", "a") as handle:
            handle.write(f"\nEdit {round_}: a new sentence about the archive.\n")
        subprocess.run([sys.executable, "-c", COMMIT, str(corpus_copy), str(index_copy)], check=True)
    assert not index.stored.generation.exists()  # pruned by the second commit
    for mode, hits in before.items():  # before: FileNotFoundError from the lazy lexical load
        assert index.search("Pyongyang Declaration", k=3, mode=mode) == hits
    assert index.answer("When was the Pyongyang Declaration signed?").grounded


def test_the_fault_seam_sees_every_kind_of_write(index_copy, monkeypatch):
    """The sweep in test_faults.py is only as good as the seam: a commit must pass every
    create, write, fsync, mkdir, rename and replace through it."""
    seen: list[str] = []

    class Recording(disk.FileSystem):
        def __getattribute__(self, name):
            if name in {"create", "write", "fsync", "mkdir", "rename", "replace"}:
                seen.append(name)
            return super().__getattribute__(name)

    stored = qa.open_index(index_copy).stored
    monkeypatch.setattr(disk, "fs", Recording())
    store.write_generation(index_copy, stored.chunks, stored.vectors(), stored.manifest)
    assert {"create", "write", "fsync", "mkdir", "rename", "replace"} <= set(seen)
    assert len(seen) > 20


def test_write_failure_message_is_a_qa_error(index_copy, monkeypatch):
    class Full(disk.FileSystem):
        def write(self, fd, data):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    stored = qa.open_index(index_copy).stored
    monkeypatch.setattr(disk, "fs", Full())
    with pytest.raises(QAError, match="No space left on device.*previous index is unchanged"):
        store.write_generation(index_copy, stored.chunks, stored.vectors(), stored.manifest)


def dead_pid() -> int:
    pid = 4_000_000
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return pid
        except OSError:
            pass
        pid -= 1


def test_leftovers_of_a_killed_onnx_export_are_removed_and_nothing_else(index_copy):
    from ..conftest import CORPUS

    models = index_copy / MODELS_DIR  # where indexes before the shared cache kept their export
    models.mkdir(exist_ok=True)
    leftover = models / f"all-MiniLM-L6-v2.onnx.tmp-{dead_pid()}"
    leftover.write_bytes(b"half an export")
    live = models / f"all-MiniLM-L6-v2.onnx.tmp-{os.getppid()}"  # a live process: maybe exporting
    live.write_bytes(b"in progress")
    mine = {models / "notes.tmp-1": b"user", models / "model.onnx.tmp-x": b"user"}
    for path, data in mine.items():
        path.write_bytes(data)
    report = qa.build_index(CORPUS, index_copy, encoder="onnx")  # up to date: only cleans up
    assert report.up_to_date
    assert not leftover.exists() and live.exists()
    assert all(path.read_bytes() == data for path, data in mine.items())


def doctor_manifest(index_dir: Path, **changes) -> None:
    import json

    path = store.current_generation(index_dir) / store.MANIFEST
    manifest = json.loads(path.read_text())
    manifest.update(changes)
    path.write_text(json.dumps(manifest))


def test_a_doctored_corpus_path_never_shows_a_file_outside_the_indexed_one(index_copy):
    doctor_manifest(index_copy, corpus="/etc", corpus_relative="../../../../../../etc",
                    files={"passwd": {"sha256": "0" * 64, "bytes": 1, "title": "x", "chunks": 1}})
    index = qa.open_index(index_copy)
    with pytest.raises(QAError, match="checksum differs"):  # before: /etc/passwd was shown
        index.read_document("passwd")


def test_a_moved_project_finds_its_corpus_beside_the_index(index_copy, corpus_copy):
    # index_copy and corpus_copy sit side by side, as a project moved from elsewhere would.
    doctor_manifest(index_copy, corpus="/old/place/that/is/gone", corpus_relative="../corpus")
    index = qa.open_index(index_copy)
    assert index.corpus == corpus_copy.resolve()
    document, current = index.read_document("pyongyang-declaration-1992.txt")
    assert current and "Pyongyang" in document.text
    (corpus_copy / "pyongyang-declaration-1992.txt").write_text("edited since")
    with pytest.raises(QAError, match="changed since it was indexed"):
        index.read_document("pyongyang-declaration-1992.txt")


async def test_the_chat_records_a_failure_to_open_the_index_so_qa_chat_exits_1(tmp_path):
    from qa.config import Settings
    from qa.tui.app import QAApp

    a_file = tmp_path / "file"
    a_file.write_text("not a folder")
    app = QAApp(Settings(corpus=small_corpus(tmp_path), index_dir=a_file), export_dir=tmp_path, cursor_blink=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        assert app.failure is not None and "is a file, not a folder" in app.failure
        await pilot.press("ctrl+q")
    assert a_file.read_text() == "not a folder"
