"""Indexing, retrieval and the API's start-up policy, with the fake encoder."""

from __future__ import annotations

import numpy as np
import pytest

import qa
from qa import store
from qa.retrieval import DENSE_WEIGHT

from .conftest import FakeEncoder


def test_build_then_unchanged_run_writes_nothing(fake_index, fake):
    corpus, index_dir = fake_index
    calls = fake.calls
    again = qa.build_index(corpus, index_dir, encoder=fake, export=False)
    assert again.up_to_date and again.chunks_embedded == 0 and fake.calls == calls
    assert again.generation == store.current_generation(index_dir).name


def test_an_edit_re_embeds_only_the_chunks_that_changed(fake_index, fake):
    corpus, index_dir = fake_index
    before = qa.open_index(index_dir, encoder=fake).stored
    path = sorted(corpus.glob("*.txt"))[0]
    path.write_text(path.read_text() + "\nA closing remark about zebras crossing rivers.\n")
    texts = fake.texts
    report = qa.build_index(corpus, index_dir, encoder=fake, export=False)
    assert report.files_indexed == (path.name,) and report.encoder == "fake"
    assert 1 <= report.chunks_embedded <= 2 and fake.texts - texts == report.chunks_embedded
    after = qa.open_index(index_dir, encoder=fake).stored
    old = {c.text_hash: v for c, v in zip(before.chunks, before.vectors(), strict=True)}
    reused = [(old[c.text_hash], v) for c, v in zip(after.chunks, after.vectors(), strict=True) if c.text_hash in old]
    assert len(reused) == report.chunks_reused and all(np.array_equal(a, b) for a, b in reused)


def test_hybrid_score_is_the_documented_fusion(fake_index, fake):
    _, index_dir = fake_index
    index = qa.open_index(index_dir, encoder=fake)
    query = "Pyongyang Declaration signatories"
    hits = index.search(query, k=8, mode="hybrid")
    lexical = {h.chunk_id: h.score for h in index.search(query, k=100, mode="lexical")}
    best = max(lexical.values())
    vector = fake.encode([query])[0]
    vectors = index.stored.vectors()
    for hit in hits:
        cosine = float(vectors[hit.chunk_id] @ vector)
        expected = DENSE_WEIGHT * cosine + (1 - DENSE_WEIGHT) * lexical.get(hit.chunk_id, 0.0) / best
        assert hit.score == pytest.approx(expected, abs=1e-5)
        assert hit.dense_score == pytest.approx(cosine, abs=1e-5)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_dense_mode_is_exact_cosine_order(fake_index, fake):
    _, index_dir = fake_index
    index = qa.open_index(index_dir, encoder=fake)
    query = "nuclear weapons deterrence"
    hits = index.search(query, k=5, mode="dense")
    cosines = index.stored.vectors() @ fake.encode([query])[0]
    texts_seen: set[str] = set()
    expected = []
    for row in np.argsort(-cosines, kind="stable"):
        text = index.stored.chunks[row].chunk.text
        if text not in texts_seen:  # same text is returned once
            texts_seen.add(text)
            expected.append(int(row))
    assert [h.chunk_id for h in hits] == expected[:5]


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"k": 0}, "k must be"), ({"k": 1001}, "k must be"), ({"k": "3"}, "k must be"),
    ({"k": True}, "k must be"), ({"mode": "fuzzy"}, "mode must be"),
])
def test_search_arguments_are_validated(fake_index, fake, kwargs, message):
    _, index_dir = fake_index
    index = qa.open_index(index_dir, encoder=fake)
    with pytest.raises(qa.ConfigError, match=message):
        index.search("declaration", **kwargs)
    with pytest.raises(qa.ConfigError, match=message):
        index.answer("When was the declaration signed?", **kwargs)


def test_encoder_names_are_validated(fake_index, tmp_path):
    corpus, index_dir = fake_index
    with pytest.raises(qa.ConfigError, match="query encoder|encoder must be"):
        qa.open_index(index_dir, encoder="openvino")  # an indexing encoder, not a query one
    with pytest.raises(qa.ConfigError, match="indexing encoder"):
        qa.build_index(corpus, tmp_path / "other", encoder="gpu")
    with pytest.raises(qa.ConfigError):
        qa.load_encoder("onnx")  # needs an index with an export


def test_open_or_build_first_run_then_opens_as_is(corpus_copy, tmp_path, fake):
    index_dir = tmp_path / "idx"
    said: list[str] = []
    first = qa.open_or_build(corpus_copy, index_dir, encoder=fake, announce=said.append)
    assert first.built is not None and first.built.chunks == len(first) > 0
    assert said == [f"no index in {index_dir} yet: building it from {corpus_copy}/ (first run)"]
    second = qa.open_or_build(corpus_copy, index_dir, encoder=fake, announce=said.append)
    assert second.built is None and len(said) == 1


def test_stale_index_is_updated_at_start_up(fake_index, fake, monkeypatch):
    corpus, index_dir = fake_index
    (corpus / "new-note.txt").write_text("Zebras crossed the Taedong river in 1999, the note says.\n")
    (corpus / "pyongyang-declaration-1992.txt").unlink()
    said: list[str] = []
    # Build with the fake encoder too: open_or_build passes its encoder to queries only.
    real_build = qa.api.build_index
    monkeypatch.setattr(qa.api, "build_index", lambda *a, **kw: real_build(*a, **{**kw, "encoder": fake, "export": False}))
    index = qa.open_or_build(corpus, index_dir, encoder=fake, announce=said.append)
    assert said == ["2 file(s) changed since indexing: updating the index"]
    assert index.built is not None and index.built.files_indexed == ("new-note.txt",)
    assert index.built.files_removed == ("pyongyang-declaration-1992.txt",)
    assert index.search("zebras Taedong river", k=1)[0].path == "new-note.txt"
    # update=False (the CLI): a stale index is opened as it is.
    (corpus / "new-note.txt").write_text("Changed again.\n")
    assert qa.open_or_build(corpus, index_dir, encoder=fake, update=False).built is None


def test_no_index_and_no_corpus_says_what_to_do(tmp_path):
    with pytest.raises(qa.IndexMissingError, match="no corpus folder .* run `qa index CORPUS`"):
        qa.open_or_build(tmp_path / "nothing", tmp_path / "idx")


def test_answers_cite_verbatim_spans_or_refuse(fake_index, fake):
    corpus, index_dir = fake_index
    index = qa.open_index(index_dir, encoder=fake)
    answer = index.answer("How many signatories were there in 2017?")
    assert answer.grounded and answer.citations
    for c in answer.citations:
        text = (corpus / c.path).read_text(encoding="utf-8")
        assert text[c.start_char:c.end_char] == c.quote
        assert text.count("\n", 0, c.start_char) + 1 == c.start_line
    assert [c.n for c in answer.citations] == list(range(1, len(answer.citations) + 1))
    # Refusal calibration belongs to the real model (tests/integration); words no document
    # uses are refused with any encoder, and the closest passages still come back.
    refusal = index.answer("Qwertyuiop asdfghjkl zxcvbnm lkjhgf?")
    assert not refusal.grounded and refusal.citations == ()


def test_a_stand_in_encoder_is_reported(fake_index):
    _, index_dir = fake_index
    assert qa.open_index(index_dir, encoder=FakeEncoder()).encoder_kind == "fake"
