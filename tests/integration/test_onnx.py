"""The torch-free query path (ONNX export + tokenizers) and its fallback."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np

import qa
from qa import encoder_policy
from qa.embedding import OnnxEncoder, OpenVinoEncoder, TorchEncoder
from qa.encoder_policy import MIN_PROBE_COSINE, MODELS_DIR, PROBE_TEXTS

QUERY_IN_SUBPROCESS = """
import json, sys
import qa
index = qa.open_index(sys.argv[1])
answer = qa.ask("When was the Pyongyang Declaration signed?", index=index)
heavy = sorted(m for m in ("torch", "transformers", "sentence_transformers") if m in sys.modules)
print(json.dumps({"heavy": heavy, "encoder": type(index.retriever.encoder).__name__,
                  "answer": answer.text, "notices": index.notices}))
"""


def run_query(index_dir) -> dict:
    out = subprocess.run([sys.executable, "-c", QUERY_IN_SUBPROCESS, str(index_dir)],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_query_path_imports_no_torch(shipped_index_dir):
    result = run_query(shipped_index_dir)
    assert result["encoder"] == "OnnxEncoder"
    assert result["heavy"] == []
    assert "20 April 1992" in result["answer"]


def test_export_matches_sentence_transformers_on_the_probe_set(shipped_index):
    onnx = OnnxEncoder(shipped_index.export_path)
    reference = TorchEncoder()
    a, b = onnx.encode(PROBE_TEXTS), reference.encode(PROBE_TEXTS)
    assert ((a * b).sum(axis=1) >= MIN_PROBE_COSINE).all()
    # Batching and padding do not change a text's vector.
    single = np.vstack([onnx.encode([t]) for t in PROBE_TEXTS])
    assert np.allclose(single, a, atol=1e-5)


def test_onnx_and_torch_queries_rank_the_same(shipped_index_dir):
    onnx_index = qa.open_index(shipped_index_dir, encoder="auto")
    torch_index = qa.open_index(shipped_index_dir, encoder="torch")
    for q in ("When was the Pyongyang Declaration signed?", "nuclear deterrence", "Zabaikalsk"):
        assert [h.chunk_id for h in onnx_index.search(q, k=5)] == [h.chunk_id for h in torch_index.search(q, k=5)]


def own_cache(user_cache, tmp_path, monkeypatch):
    """A copy of the run's user cache for a test that damages the shared export."""
    cache = tmp_path / "cache"
    shutil.copytree(user_cache / "qa" / "onnx", cache / "qa" / "onnx")
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    return cache


def test_corrupt_export_falls_back_with_a_notice(index_copy, user_cache, tmp_path, monkeypatch):
    own_cache(user_cache, tmp_path, monkeypatch)
    onnx_file = qa.open_index(index_copy).export_path
    assert onnx_file is not None and onnx_file.is_relative_to(tmp_path / "cache")
    onnx_file.write_bytes(onnx_file.read_bytes()[:1000])
    result = run_query(index_copy)
    assert result["encoder"] == "TorchEncoder"
    assert "20 April 1992" in result["answer"]
    assert any("fails its checksum" in n for n in result["notices"])


def test_missing_export_falls_back_and_the_next_index_run_restores_it(index_copy, corpus_copy, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "empty-cache"))  # the export is nowhere
    result = run_query(index_copy)
    assert result["encoder"] == "TorchEncoder" and "20 April 1992" in result["answer"]
    report = qa.build_index(corpus_copy, index_copy)
    assert report.chunks_embedded == 0  # only the export is redone
    assert run_query(index_copy)["encoder"] == "OnnxEncoder"


def test_openvino_runs_the_export_to_the_probe_tolerance(shipped_index):
    onnx = OnnxEncoder(shipped_index.export_path)
    openvino = OpenVinoEncoder(shipped_index.export_path)
    cosines = (openvino.encode(PROBE_TEXTS) * onnx.encode(PROBE_TEXTS)).sum(axis=1)
    assert cosines.min() >= MIN_PROBE_COSINE


def test_default_build_embeds_with_openvino_and_rebuild_keeps_the_export(corpus_copy, tmp_path):
    index_dir = tmp_path / "embeddings"
    first = qa.build_index(corpus_copy, index_dir)
    assert first.encoder == "openvino"
    export = qa.open_index(index_dir).export_path
    assert export is not None and not (index_dir / MODELS_DIR).exists()  # the shared one, in the cache
    exported_at = export.stat().st_mtime_ns
    again = qa.build_index(corpus_copy, index_dir, rebuild=True)
    assert again.encoder == "openvino" and again.chunks_embedded == again.chunks
    assert export.stat().st_mtime_ns == exported_at  # re-embedding did not re-export
    fresh = qa.open_index(index_dir)
    reference = qa.open_index(index_dir, encoder="torch")
    for question in ("When was the Pyongyang Declaration signed?", "What is the capital of Australia?"):
        assert [h.chunk_id for h in fresh.search(question)] == [h.chunk_id for h in reference.search(question)]


def test_a_failing_openvino_falls_back_to_onnxruntime(corpus_copy, tmp_path, monkeypatch):
    class Broken:
        def __init__(self, *args, **kwargs):
            raise RuntimeError("no CPU plugin")

    monkeypatch.setattr(encoder_policy, "OpenVinoEncoder", Broken)
    report = qa.build_index(corpus_copy, tmp_path / "embeddings", encoder="openvino")
    assert report.encoder == "onnx"
    assert any("OpenVINO unavailable (RuntimeError: no CPU plugin)" in n for n in report.notices)
