"""The sharded index directory and its manifest, committed last and atomically.

Layout::

    cluster.json         the committed cluster manifest (replaced atomically, written last)
    terms-<sha>.json     collection-wide BM25 statistics named by their content (see terms.py)
    models/              the ONNX export shared by the build tasks and the query encoder
    shards/000/ ...      one ordinary qa index per shard (CURRENT, gen-NNNNNN/, as in store.py)
    .lock                the one writer's lock

Each shard is committed on its own by its build task; ``cluster.json`` names the generation of
every shard and the statistics file, so a reader sees the previous cluster until the new
manifest is in place. The folder must be on storage every node sees (NFS, a shared volume).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from qa.cluster.terms import TermStats
from qa.errors import IndexCorruptError, IndexMismatchError, IndexMissingError

CLUSTER_MANIFEST = "cluster.json"
CLUSTER_FORMAT = 1
SHARDS_DIR = "shards"
REBUILD_HINT = "run `qa index --cluster ADDRESS --shards N --rebuild`"


def is_cluster_index(index_dir: Path) -> bool:
    return (Path(index_dir) / CLUSTER_MANIFEST).is_file()


def shard_of(path: str, shards: int) -> int:
    """The shard of a file: a stable hash of its relative path, the same on every machine and
    run (Python's ``hash`` is salted per process, so it would not do)."""
    return int.from_bytes(hashlib.sha256(path.encode("utf-8")).digest()[:8], "big") % shards


def shard_dir(index_dir: Path, shard: int) -> Path:
    return Path(index_dir) / SHARDS_DIR / f"{shard:03d}"


def _fsync(path: Path, flags: int = os.O_RDONLY) -> None:
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    _fsync(path.parent)


def write_terms(index_dir: Path, stats: TermStats) -> dict[str, Any]:
    """Write the collection statistics under a name derived from their content."""
    data = json.dumps(stats.to_dict(), ensure_ascii=False, sort_keys=True).encode("utf-8")
    digest = hashlib.sha256(data).hexdigest()
    name = f"terms-{digest[:16]}.json"
    if not (index_dir / name).is_file():
        _write_atomic(index_dir / name, data)
    return {"file": name, "sha256": digest, "bytes": len(data)}


def read_terms(index_dir: Path, record: dict[str, Any]) -> TermStats:
    path = Path(index_dir) / record["file"]
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise IndexCorruptError(f"index corrupt: cannot read {path}: {exc}; {REBUILD_HINT}") from exc
    if hashlib.sha256(data).hexdigest() != record["sha256"]:
        raise IndexCorruptError(f"index corrupt: {path} fails its checksum; {REBUILD_HINT}")
    return TermStats.from_dict(json.loads(data))


def commit(index_dir: Path, manifest: dict[str, Any]) -> None:
    """Replace ``cluster.json``: the one step that makes a sharded build visible. Statistics files
    no manifest names any more are removed afterwards (the previous one is kept for readers that
    opened the previous manifest)."""
    previous = read_manifest_safe(index_dir)
    data = json.dumps({**manifest, "cluster_format": CLUSTER_FORMAT}, indent=1, ensure_ascii=False)
    _write_atomic(index_dir / CLUSTER_MANIFEST, data.encode("utf-8"))
    keep = {manifest["terms"]["file"]} | ({previous["terms"]["file"]} if previous else set())
    for item in index_dir.glob("terms-*.json"):
        if item.name not in keep:
            item.unlink(missing_ok=True)


def read_manifest(index_dir: Path) -> dict[str, Any]:
    path = Path(index_dir) / CLUSTER_MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise IndexMissingError(
            f"no sharded index in {index_dir}: build it with `qa index CORPUS --index-dir {index_dir} --cluster ADDRESS --shards N`"
        ) from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IndexCorruptError(f"index corrupt: {path} is unreadable ({exc}); {REBUILD_HINT}") from exc
    if not isinstance(manifest, dict) or manifest.get("cluster_format") != CLUSTER_FORMAT:
        raise IndexMismatchError(f"{path} is not a cluster manifest this qa reads (format {CLUSTER_FORMAT}); {REBUILD_HINT}")
    return manifest


def read_manifest_safe(index_dir: Path) -> dict[str, Any] | None:
    try:
        return read_manifest(index_dir)
    except (IndexMissingError, IndexCorruptError, IndexMismatchError):
        return None
