"""Faults while writing the index: injected I/O errors and SIGKILL at random moments.

Rows 1 and 2 of the reliability table (README "Guarantees"). The kill loop runs the real
indexer in a subprocess with the ONNX encoder, so each run starts in about a second.
"""

from __future__ import annotations

import errno
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import qa
from qa import disk, store
from qa.errors import IndexMissingError, QAError

QUERY = "When was the Pyongyang Declaration signed?"


def snapshot(index_dir: Path) -> tuple[str, list]:
    index = qa.open_index(index_dir)
    return index.stored.generation.name, [(h.path, h.start_char, h.score) for h in index.search(QUERY, k=5, mode="lexical")]


class Faults(disk.FileSystem):
    """The store's I/O seam with its Nth call (create, write, fsync, mkdir, rename, replace)
    failing with ``err``, as a full disk, a failing disk or a read-only remount would."""

    def __init__(self, fail_at: int, err: int) -> None:
        self.calls = 0
        self.fail_at = fail_at
        self.err = err

    def _tick(self, *where: object) -> None:
        self.calls += 1
        if self.calls == self.fail_at:
            if where:
                raise OSError(self.err, os.strerror(self.err), str(where[0]))
            raise OSError(self.err, os.strerror(self.err))  # fd-level calls carry no file name

    def create(self, path):
        self._tick(path)
        return super().create(path)

    def write(self, fd, data):
        self._tick()
        super().write(fd, data)

    def fsync(self, fd):
        self._tick()
        super().fsync(fd)

    def mkdir(self, path):
        self._tick(path)
        super().mkdir(path)

    def rename(self, source, target):
        self._tick(source)
        super().rename(source, target)

    def replace(self, source, target):
        self._tick(source)
        super().replace(source, target)


@pytest.mark.parametrize("err", [errno.ENOSPC, errno.EIO, errno.EROFS, errno.EACCES])
def test_io_failure_at_every_step_leaves_the_old_index(index_copy, monkeypatch, err):
    before = snapshot(index_copy)
    stored = qa.open_index(index_copy).stored
    chunks, vectors, manifest = stored.chunks, stored.vectors(), stored.manifest
    failures = 0
    for n in range(1, 2000):
        with monkeypatch.context() as patch:
            faults = Faults(n, err)
            patch.setattr(disk, "fs", faults)
            try:
                store.write_generation(index_copy, chunks, vectors, manifest)
            except QAError as exc:
                failures += 1
                assert os.strerror(err) in str(exc) and str(index_copy) in str(exc)  # names the path
                if "new index is in place" in str(exc):
                    # Failed after the commit point (the final directory fsync): the new
                    # generation is whole and answers the same; the message said so.
                    name, result = snapshot(index_copy)
                    assert name != before[0] and result == before[1]
                    shutil.rmtree(index_copy / name)
                    (index_copy / "CURRENT").write_text(before[0] + "\n")
                else:
                    assert "previous index is unchanged" in str(exc)
            else:
                assert faults.calls < n  # no fault was reached: the sweep is complete
                break
        assert snapshot(index_copy) == before, f"index changed after failure at I/O call {n}"
        assert not list(index_copy.glob(".tmp-*")) and not (index_copy / "CURRENT.tmp").exists()
    assert failures >= 5  # the sweep really hit every write, fsync and rename
    assert snapshot(index_copy)[0] != before[0]  # the final, fault-free write committed


KILL_RUNNER = """
import sys
import qa
qa.build_index(sys.argv[1], sys.argv[2], encoder=sys.argv[3], export=False)
print("done", flush=True)
"""


def run_indexer(corpus: Path, index_dir: Path, encoder: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", KILL_RUNNER, str(corpus), str(index_dir), encoder],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def kill_loop(corpus: Path, index_dir: Path, rounds: int, seed: int) -> dict[str, int]:
    """Edit the corpus, start `qa index`, SIGKILL it at a random moment; after each kill the
    committed index must open and answer exactly as the generation it names did."""
    rng = random.Random(seed)
    edited = corpus / "kim-il-sung-unity-of-socialist-countries-1980s.txt"
    original = edited.read_text(encoding="utf-8")
    answers = {}
    # Every round differs from the original by one line, so every run does the same amount of
    # work and the kill window (measured once) keeps covering the whole run, commit included.
    edited.write_text(original + "\nA first edit, so the timed reference run embeds and commits like every round.\n", encoding="utf-8")
    started = time.perf_counter()
    full = run_indexer(corpus, index_dir, "onnx")
    assert full.wait(timeout=300) == 0
    duration = time.perf_counter() - started
    name, result = snapshot(index_dir)
    answers[name] = result
    outcomes = {"killed": 0, "finished": 0, "new_generation_seen": 0}
    for i in range(rounds):
        edited.write_text(original + f"\nRound {i} adds a sentence about Pyongyang archives number {i}.\n", encoding="utf-8")
        process = run_indexer(corpus, index_dir, "onnx")
        time.sleep(rng.uniform(0, duration * 1.3))
        process.send_signal(signal.SIGKILL)
        code = process.wait(timeout=60)
        outcomes["finished" if code == 0 else "killed"] += 1
        name, result = snapshot(index_dir)  # must open: never half an index
        if name in answers:
            assert result == answers[name], f"round {i}: {name} answers differently after a kill"
        else:
            outcomes["new_generation_seen"] += 1
            answers[name] = result
    return outcomes


def test_sigkill_during_updates_never_breaks_the_index(index_copy, corpus_copy):
    outcomes = kill_loop(corpus_copy, index_copy, rounds=50, seed=7)
    assert outcomes["killed"] >= 10 and outcomes["new_generation_seen"] >= 3, outcomes
    report = qa.build_index(corpus_copy, index_copy, encoder="onnx", export=False)  # cleans up
    assert not list(index_copy.glob(".tmp-*"))
    assert len(list(index_copy.glob("gen-*"))) <= 2
    assert "Round 49" in qa.open_index(index_copy).search("Round 49 Pyongyang archives number 49", k=1)[0].text
    # Only the edited file is redone (how many of its chunks depends on how many rounds were
    # killed before committing); the other files keep their vectors.
    assert report.files_indexed == ("kim-il-sung-unity-of-socialist-countries-1980s.txt",)
    assert len(report.files_reused) == 3 and report.chunks_reused >= 40


def test_killed_first_build_reads_as_no_index_yet(corpus_copy, tmp_path):
    index_dir = tmp_path / "idx"
    rng = random.Random(3)
    for _ in range(3):
        process = run_indexer(corpus_copy, index_dir, "torch")
        time.sleep(rng.uniform(0.5, 6))
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=60)
        if (index_dir / "CURRENT").exists():
            snapshot(index_dir)  # a completed first build must be whole
        else:
            with pytest.raises(IndexMissingError):
                qa.open_index(index_dir)
    shutil.rmtree(index_dir, ignore_errors=True)
