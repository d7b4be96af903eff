"""Incremental indexing with the real model."""

from __future__ import annotations

import pytest

import qa
from qa import store
from qa.errors import CorpusError


def test_second_run_on_an_unchanged_corpus_embeds_nothing(corpus_copy, tmp_path):
    index_dir = tmp_path / "idx"
    first = qa.build_index(corpus_copy, index_dir, export=False)
    assert first.chunks_embedded == first.chunks > 0
    second = qa.build_index(corpus_copy, index_dir, export=False)
    assert second.up_to_date and second.chunks_embedded == 0
    assert second.generation == first.generation  # nothing was written


def test_an_edit_re_embeds_only_the_changed_chunks_of_that_file(corpus_copy, tmp_path):
    index_dir = tmp_path / "idx"
    first = qa.build_index(corpus_copy, index_dir, export=False)
    before = qa.open_index(index_dir).stored
    path = corpus_copy / "kim-il-sung-unity-of-socialist-countries-1980s.txt"
    path.write_text(path.read_text().replace("To write your feedbacks", "A brand new closing sentence about Pyongyang archives."))
    report = qa.build_index(corpus_copy, index_dir, export=False)
    assert report.files_indexed == ("kim-il-sung-unity-of-socialist-countries-1980s.txt",)
    assert len(report.files_reused) == 3
    assert 1 <= report.chunks_embedded <= 2  # the chunk holding the edit (and at most its overlap)
    after = qa.open_index(index_dir)
    assert "brand new closing sentence" in after.search("brand new closing sentence archives", k=1)[0].text
    # Unchanged chunks kept their exact vectors.
    old = {s.text_hash: v for s, v in zip(before.chunks, before.vectors(), strict=True)}
    for s, v in zip(after.stored.chunks, after.stored.vectors(), strict=True):
        if s.text_hash in old:
            assert (old[s.text_hash] == v).all()
    assert first.generation != report.generation


def test_deleted_files_drop_out(corpus_copy, tmp_path):
    index_dir = tmp_path / "idx"
    qa.build_index(corpus_copy, index_dir, export=False)
    (corpus_copy / "pyongyang-declaration-1992.txt").unlink()
    report = qa.build_index(corpus_copy, index_dir, export=False)
    assert report.files_removed == ("pyongyang-declaration-1992.txt",)
    assert report.chunks_embedded == 0
    index = qa.open_index(index_dir)
    assert all(h.path != "pyongyang-declaration-1992.txt" for h in index.search("Pyongyang Declaration signatories", k=10))


def test_bad_files_are_skipped_and_the_rest_indexed(corpus_copy, tmp_path):
    (corpus_copy / "empty.txt").write_bytes(b"")
    (corpus_copy / "blob.txt").write_bytes(b"\x00\x01\x02binary")
    report = qa.build_index(corpus_copy, tmp_path / "idx", export=False)
    assert dict(report.skipped) == {"blob.txt": "binary file (contains NUL bytes)", "empty.txt": "empty file"}
    assert len(report.files_indexed) == 4


def test_same_content_under_two_names_is_returned_once(corpus_copy, tmp_path):
    source = corpus_copy / "pyongyang-declaration-1992.txt"
    (corpus_copy / "copy-of-declaration.txt").write_text(source.read_text())
    qa.build_index(corpus_copy, tmp_path / "idx", export=False)
    hits = qa.open_index(tmp_path / "idx").search("When was the Pyongyang Declaration signed?", k=10)
    texts = [h.text for h in hits]
    assert len(texts) == len(set(texts))


@pytest.mark.parametrize("make", ["missing", "empty"])
def test_empty_or_missing_corpus_writes_nothing(tmp_path, make):
    corpus = tmp_path / "corpus"
    if make == "empty":
        corpus.mkdir()
    with pytest.raises(CorpusError):
        qa.build_index(corpus, tmp_path / "idx", export=False)
    assert not (tmp_path / "idx").exists() or store.current_generation(tmp_path / "idx") is None
