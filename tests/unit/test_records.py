"""Typed index records: a round trip keeps every field, and any wrong type or missing key is an
IndexCorruptError naming the field (never a KeyError or TypeError from deep inside qa)."""

from __future__ import annotations

import copy
import json

import pytest

from qa.errors import IndexCorruptError
from qa.records import Checksum, ChunkRecord, ExportRecord, FileRecord, Manifest, ModelRecord
from qa.types import Chunk

CHUNK = ChunkRecord(Chunk("a/b.txt", "Title", ("H1", "H2"), "Some text.", 10, 20, 2, 3, page=4), "ab" * 16)
MANIFEST = Manifest(
    model=ModelRecord("m/name", 384, 256, "pkg"),
    chunker={"max_tokens": 256, "target_tokens": 200},
    corpus="/corpus",
    files={"a/b.txt": FileRecord("f" * 64, 123, "Title", 1)},
    skipped=(("c.txt", "empty file"),),
    onnx=ExportRecord("m.onnx", "e" * 64, 0.9999995, 8),
    format_version=1, qa_version="0.1.0", created="2026-01-01T00:00:00Z", generation="gen-000001",
    counts={"files": 1, "skipped": 1, "chunks": 1},
    faiss={"type": "IndexFlatIP", "metric": "inner_product", "version": "1.8"},
    data_files={"chunks.jsonl": Checksum("c" * 64, 99)},
)


def through_json(data: dict) -> dict:
    return json.loads(json.dumps(data))


def test_chunk_record_round_trip():
    assert ChunkRecord.from_json(through_json(CHUNK.to_json(7)), 7) == CHUNK
    no_page = ChunkRecord(Chunk("x.md", "", (), "t", 0, 1, 1, 1), "00")
    assert ChunkRecord.from_json(through_json(no_page.to_json(0)), 0) == no_page


def test_manifest_round_trip():
    assert Manifest.from_json(through_json(MANIFEST.to_json())) == MANIFEST
    bare = Manifest(ModelRecord("m", 1, 2, "p"), {}, "/c", {}, format_version=1)
    assert Manifest.from_json(through_json(bare.to_json())) == bare


@pytest.mark.parametrize("key", ["id", "path", "title", "heading_path", "text", "start_char",
                                 "end_char", "start_line", "end_line", "page", "hash"])
def test_chunk_record_missing_key(key):
    data = CHUNK.to_json(0)
    del data[key]
    with pytest.raises(IndexCorruptError, match=f"chunk record 0 has no '{key}'.*qa index --rebuild"):
        ChunkRecord.from_json(data, 0)


@pytest.mark.parametrize(("key", "bad"), [("path", 3), ("start_char", "10"), ("end_line", 2.0),
                                          ("page", "4"), ("heading_path", "H1"), ("hash", None),
                                          ("start_line", True)])
def test_chunk_record_wrong_type(key, bad):
    data = CHUNK.to_json(0)
    data[key] = bad
    with pytest.raises(IndexCorruptError, match=f"'{key}'"):
        ChunkRecord.from_json(data, 0)


def test_chunk_record_other_defects():
    with pytest.raises(IndexCorruptError, match="chunk record 3 has id 7"):
        ChunkRecord.from_json(CHUNK.to_json(7), 3)
    with pytest.raises(IndexCorruptError, match="not a JSON object"):
        ChunkRecord.from_json([1, 2], 0)
    data = CHUNK.to_json(0)
    data["heading_path"] = ["ok", 5]
    with pytest.raises(IndexCorruptError, match="non-string"):
        ChunkRecord.from_json(data, 0)


@pytest.mark.parametrize("path", [["model"], ["chunker"], ["corpus"], ["files"], ["skipped"],
                                  ["format_version"], ["model", "dim"], ["files", "a/b.txt", "sha256"],
                                  ["onnx", "file"], ["data_files", "chunks.jsonl", "bytes"]])
def test_manifest_missing_key(path):
    data = MANIFEST.to_json()
    target = data
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    with pytest.raises(IndexCorruptError, match=f"has no '{path[-1]}'"):
        Manifest.from_json(data)


@pytest.mark.parametrize(("path", "bad"), [
    (["model", "dim"], "384"), (["model", "name"], None), (["files"], []), (["corpus"], 1),
    (["files", "a/b.txt", "bytes"], 1.5), (["onnx", "min_probe_cosine"], "high"),
    (["onnx"], "m.onnx"), (["skipped"], [["only-a-path"]]), (["counts", "chunks"], "1"),
    (["data_files", "chunks.jsonl", "sha256"], 0), (["format_version"], "1"),
])
def test_manifest_wrong_type(path, bad):
    data = copy.deepcopy(MANIFEST.to_json())
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = bad
    with pytest.raises(IndexCorruptError, match="index corrupt"):
        Manifest.from_json(data)


def test_public_api_names_all_resolve():
    import qa

    assert set(qa.__all__) == set(qa._HOME) | {"__version__"}
    for name in qa.__all__:
        assert getattr(qa, name) is not None, name
