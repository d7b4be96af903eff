"""Each corpus has its own index (issue 15, "Corpora and indexes"): where it goes without
--index-dir, and that another folder's index is never used as if it were this one's."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest

import qa
from qa import store
from qa.config import resolve_settings
from qa.locations import index_dir_for

from .conftest import FakeEncoder


@pytest.fixture()
def home(tmp_path, monkeypatch) -> Path:
    """A project folder as cwd, with its own user cache and no config file in reach."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for name in ("QA_CORPUS", "QA_INDEX_DIR", "QA_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    project = tmp_path / "project"
    project.mkdir()
    monkeypatch.chdir(project)
    return project


def test_the_shipped_layout_keeps_embeddings(home):
    assert index_dir_for(Path("corpus")) == Path("embeddings")
    assert index_dir_for(home / "corpus") == Path("embeddings")  # the same folder, spelled absolutely
    assert resolve_settings().index_dir == Path("embeddings")


def test_any_other_corpus_gets_its_own_cache_folder_keyed_by_its_path(home, tmp_path):
    docs = home / "docs"
    docs.mkdir()
    expected = tmp_path / "cache" / "qa" / "indexes" / (
        "docs-" + hashlib.sha256(os.fsencode(docs.resolve())).hexdigest()[:16])
    assert index_dir_for(Path("docs")) == expected == index_dir_for(docs)
    other = tmp_path / "elsewhere" / "docs"  # same name, another folder: another index
    assert index_dir_for(other) != expected and index_dir_for(other).name.startswith("docs-")
    assert index_dir_for(home / "a corpus: with ✓ odd/..").parent == expected.parent  # a safe name
    assert resolve_settings(corpus=Path("docs")).index_dir == expected
    # --index-dir (and QA_INDEX_DIR) still decide when given.
    assert resolve_settings(corpus=Path("docs"), index_dir=Path("mine")).index_dir == Path("mine")
    os.environ["QA_INDEX_DIR"] = "from-env"
    try:
        assert resolve_settings(corpus=Path("docs")).index_dir == Path("from-env")
    finally:
        del os.environ["QA_INDEX_DIR"]


def test_open_or_build_gives_each_corpus_its_own_index(home, fake):
    first, second = home / "first", home / "second"
    first.mkdir()
    second.mkdir()
    (first / "okapi.txt").write_text("The okapi sanctuary in Epulu was founded in 1987.\n")
    (second / "glacier.txt").write_text("The Rhone glacier retreated by 1.4 km since 1856.\n")
    a = qa.open_or_build(first, encoder=fake)
    b = qa.open_or_build(second, encoder=fake)
    # Before: both went to ./embeddings, and the second corpus was answered from the first's index.
    assert not (home / "embeddings").exists()
    assert a.root == index_dir_for(first) and b.root == index_dir_for(second)
    assert set(a.manifest.files) == {"okapi.txt"} and set(b.manifest.files) == {"glacier.txt"}
    assert a.corpus == first.resolve() and b.corpus == second.resolve()
    again = qa.open_or_build(first, encoder=fake)
    assert again.built is None and again.stored.generation == a.stored.generation


def test_an_index_of_another_folder_is_re_indexed_not_used(home, fake):
    first, second = home / "first", home / "second"
    first.mkdir()
    (first / "okapi.txt").write_text("The okapi sanctuary in Epulu was founded in 1987.\n")
    shutil.copytree(first, second)
    (second / "glacier.txt").write_text("The Rhone glacier retreated by 1.4 km since 1856.\n")
    index_dir = home / "shared-index"
    qa.open_or_build(first, index_dir, encoder=fake)
    told: list[str] = []
    index = qa.open_or_build(second, index_dir, encoder=fake, update=False, announce=told.append)
    # Before: with update=False (qa ask) the index of `first` was used for `second` as it was.
    assert index.corpus == second.resolve() and set(index.manifest.files) == {"okapi.txt", "glacier.txt"}
    assert told and "is the index of" in told[0] and str(first.resolve()) in told[0]
    # Only the index folder given: opened for the corpus it records.
    assert qa.open_or_build(None, index_dir, encoder=fake).corpus == second.resolve()


def test_re_indexing_the_same_files_from_a_new_folder_records_the_new_folder(home, fake):
    old = home / "old"
    old.mkdir()
    (old / "okapi.txt").write_text("The okapi sanctuary in Epulu was founded in 1987.\n")
    index_dir = home / "index"
    qa.build_index(old, index_dir, encoder=fake, export=False)
    new = home / "new"
    shutil.copytree(old, new)
    report = qa.build_index(new, index_dir, encoder=FakeEncoder(), export=False)
    # Before: "up to date", and the manifest still named the old folder.
    assert not report.up_to_date and report.chunks_embedded == 0
    assert store.committed_manifest(index_dir, qa.model_spec().name).corpus == str(new.resolve())
    assert any(f"Corpus {new.resolve()} -> index {index_dir}" in line for line in report.lines())
    assert qa.build_index(new, index_dir, encoder=fake, export=False).up_to_date
