"""The ONNX export is made once per model, in the user cache keyed by the model weights'
sha256, not once per index (issue 15): a new corpus starts without re-exporting, and a
corrupt cached export is exported again, never used."""

from __future__ import annotations

import json
import shutil

import pytest

import qa
from qa import disk, encoder_policy
from qa.encoder_policy import EXPORT_RECORD, MODELS_DIR, weights_sha256

from ..conftest import CORPUS


def small_corpus(folder, *names):
    folder.mkdir()
    for name in names:
        shutil.copy(CORPUS / name, folder / name)
    return folder


FIRST, SECOND = sorted(p.name for p in CORPUS.glob("*.txt"))[:2]


def test_a_second_corpus_reuses_the_cached_export(user_cache, tmp_path, monkeypatch):
    qa.build_index(CORPUS, tmp_path / "warm")  # the run's cache holds the export (or gets it now)

    def no_export(*args, **kwargs):
        raise AssertionError("exported again")

    monkeypatch.setattr(encoder_policy, "export_onnx", no_export)
    reports = [qa.build_index(small_corpus(tmp_path / name, doc), tmp_path / f"{name}-index")
               for name, doc in (("a", FIRST), ("b", SECOND))]
    folder = user_cache / "qa" / "onnx" / weights_sha256()
    record = json.loads((folder / EXPORT_RECORD).read_text())
    assert disk.checksum(folder / record["file"]).sha256 == record["sha256"]
    for name, report in zip("ab", reports, strict=True):
        assert report.encoder in ("openvino", "onnx") and not any("ONNX" in n for n in report.notices)
        index = qa.open_index(tmp_path / f"{name}-index")
        # Before: each index exported into its own models/ (15-17 s each here).
        assert not (tmp_path / f"{name}-index" / MODELS_DIR).exists()
        assert index.export_path == folder / record["file"] and index.manifest.onnx is not None
        assert index.manifest.onnx.sha256 == record["sha256"] and index.encoder_kind == "onnx"


@pytest.mark.parametrize("damage", ["truncated export", "unreadable record"])
def test_a_corrupt_cached_export_is_exported_again_never_used(user_cache, tmp_path, monkeypatch, damage):
    qa.build_index(CORPUS, tmp_path / "warm")
    cache = tmp_path / "cache"
    shutil.copytree(user_cache / "qa", cache / "qa")
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    folder = cache / "qa" / "onnx" / weights_sha256()
    record = json.loads((folder / EXPORT_RECORD).read_text())
    if damage == "truncated export":
        (folder / record["file"]).write_bytes((folder / record["file"]).read_bytes()[:4096])
    else:
        (folder / EXPORT_RECORD).write_text("{not json")
    exports = []
    real = encoder_policy.export_onnx

    def counted(target, *args, **kwargs):
        exports.append(target)
        return real(target, *args, **kwargs)

    monkeypatch.setattr(encoder_policy, "export_onnx", counted)
    report = qa.build_index(small_corpus(tmp_path / "docs", FIRST), tmp_path / "index")
    assert len(exports) == 1 and report.encoder in ("openvino", "onnx")
    fresh = json.loads((folder / EXPORT_RECORD).read_text())
    assert disk.checksum(folder / fresh["file"]).sha256 == fresh["sha256"]
    assert qa.open_index(tmp_path / "index").manifest.onnx.sha256 == fresh["sha256"]
    assert not [p for p in (cache / "qa" / "onnx").iterdir() if p.name.startswith((".tmp-", ".old-"))]
