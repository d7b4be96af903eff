"""Corpus -> sharded index: Ray tasks build the shards, the driver commits the cluster manifest.

Files go to shards by a hash of their relative path. One task per shard reads, chunks and embeds
that shard's new or changed files (reusing the vectors of unchanged chunks, as a single index
update does) and commits the shard as an ordinary generation; a shard whose files are all
unchanged is only hashed and left alone. Tasks are retried when their worker dies: a killed task
leaves at most a ``.tmp-*`` folder, which the retry removes, and the shard's committed generation
is untouched until a complete one replaces it. The driver commits ``cluster.json`` only after
every task has succeeded.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import qa.cluster._adapters as qa_
import qa.cluster.manifest as cm
from qa.cluster.runtime import ClusterError, connect
from qa.cluster.terms import TermStats
from qa.errors import CorpusError

STATS_FILE = "lexical_stats.json"  # in a shard's folder: term counts of its committed generation
TASK_RETRIES = 3  # a build task whose worker or node dies is run again, up to this many times


@dataclass(frozen=True)
class ShardJob:
    """Everything a build task needs: plain data, so Ray ships it without pickling qa objects."""

    shard: int
    shard_dir: str
    corpus: str
    paths: tuple[str, ...]
    model: str
    chunker: dict[str, Any]
    encoder: str
    onnx_path: str | None
    rebuild: bool = False


@dataclass(frozen=True)
class ShardResult:
    shard: int
    generation: str | None  # None: no file of the corpus falls in this shard
    files: dict[str, Any]  # path -> record (sha256, bytes, title, chunks)
    skipped: tuple[tuple[str, str], ...]
    warnings: tuple[tuple[str, str], ...]
    stats: dict[str, Any]  # TermStats.to_dict()
    indexed: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    chunks: int = 0
    embedded: int = 0
    encoder: str = ""
    seconds: float = 0.0
    notices: tuple[str, ...] = field(default=())


def build_shard(job: ShardJob) -> ShardResult:
    """Bring one shard up to date with its files (runs inside a Ray task)."""
    started = time.perf_counter()
    shard_dir = Path(job.shard_dir)
    corpus = Path(job.corpus)
    if not job.paths and qa_.current_generation_name(shard_dir) is None:
        return ShardResult(job.shard, None, {}, (), (), TermStats(0, 0, {}).to_dict())
    with qa_.lock(shard_dir):
        old_manifest = None if job.rebuild else qa_.committed_manifest(shard_dir, job.model)
        if old_manifest is not None and old_manifest.chunker != job.chunker:
            old_manifest = None
        old_files = qa_.file_dicts(old_manifest) if old_manifest else {}
        sources = {p: qa_.source_file(corpus, p) for p in job.paths}
        raws: dict[str, Any] = {}
        skipped: list[tuple[str, str]] = []
        warnings: list[tuple[str, str]] = []
        for path in job.paths:
            try:
                raws[path] = qa_.read_file_bytes(sources[path])
            except qa_.SkipFile as exc:
                skipped.append((path, str(exc)))
                continue
            warnings.extend((path, w) for w in raws[path].warnings)
        unchanged = (
            old_manifest is not None
            and set(old_files) == set(raws)
            and all(old_files[p]["sha256"] == raws[p].sha256 for p in raws)
            and list(old_manifest.skipped) == sorted(skipped)
        )
        stats = _read_stats(shard_dir, old_manifest.generation) if unchanged and old_manifest else None
        if unchanged and old_manifest is not None and stats is not None:
            return ShardResult(job.shard, old_manifest.generation, old_files, tuple(skipped),
                               tuple(warnings), stats, chunks=old_manifest.counts["chunks"],
                               seconds=time.perf_counter() - started)
        return _rebuild_shard(job, shard_dir, raws, sources, skipped, warnings, started)


def _rebuild_shard(job: ShardJob, shard_dir: Path, raws: dict[str, Any], sources: dict[str, Any],
                   skipped: list[tuple[str, str]], warnings: list[tuple[str, str]],
                   started: float) -> ShardResult:
    import numpy as np

    old = None if job.rebuild else qa_.try_open_shard(shard_dir, job.model)
    if old is not None and old.manifest.chunker != job.chunker:
        old = None
    old_files = qa_.file_dicts(old.manifest) if old else {}
    old_rows: dict[str, list[int]] = {}
    by_hash: dict[str, int] = {}
    if old is not None:
        for row, stored in enumerate(old.chunks):
            old_rows.setdefault(stored.chunk.path, []).append(row)
            by_hash.setdefault(stored.text_hash, row)
    settings = qa_.ChunkerSettings(**job.chunker)
    plan: list[tuple[qa_.StoredChunk, int | None]] = []
    files: dict[str, Any] = {}
    indexed: list[str] = []
    for path in sorted(raws):  # the single index's order, so global rows can follow it
        raw = raws[path]
        previous = old_files.get(path)
        if old is not None and previous and previous["sha256"] == raw.sha256 and path in old_rows:
            plan.extend((old.chunks[row], row) for row in old_rows[path])
            files[path] = previous
            continue
        try:
            document = qa_.load_file(sources[path], raw)
        except qa_.SkipFile as exc:
            skipped.append((path, str(exc)))
            continue
        chunks = qa_.chunk_document(document, qa_.tokenizer().count, settings)
        if not chunks:
            skipped.append((path, "no text to index"))
            continue
        for chunk in chunks:
            h = qa_.text_hash(chunk.embedding_text())
            plan.append((qa_.StoredChunk(chunk, h), by_hash.get(h)))
        files[path] = {"sha256": raw.sha256, "bytes": len(raw.data), "title": document.title,
                       "chunks": len(chunks)}
        indexed.append(path)
    spec = qa_.model_spec()
    vectors = np.zeros((len(plan), spec.dim), dtype=np.float32)
    old_vectors = old.vectors() if old is not None and plan else None
    for i, (_, old_row) in enumerate(plan):
        if old_row is not None and old_vectors is not None:
            vectors[i] = old_vectors[old_row]
    pending = [i for i, (_, old_row) in enumerate(plan) if old_row is None]
    encoder_kind = ""
    if pending:
        encoder = qa_.index_encoder(job.encoder, job.onnx_path)
        encoder_kind = encoder.kind
        vectors[pending] = encoder.encode([plan[i][0].chunk.embedding_text() for i in pending])
    texts = [stored.chunk.embedding_text() for stored, _ in plan]
    stats = TermStats.of(qa_.lexical_tokens(texts)) if texts else TermStats(0, 0, {})
    skipped.sort()
    shard_manifest = qa_.shard_manifest(job.corpus, job.chunker, files, skipped)
    generation = qa_.write_shard(shard_dir, [p for p, _ in plan], vectors, shard_manifest)
    _write_stats(shard_dir, generation, stats.to_dict())
    return ShardResult(
        job.shard, generation, files, tuple(skipped), tuple(warnings), stats.to_dict(),
        tuple(indexed), tuple(sorted(set(old_files) - set(files))), len(plan), len(pending),
        encoder_kind, time.perf_counter() - started,
    )


def _read_stats(shard_dir: Path, generation: str) -> dict[str, Any] | None:
    """The term statistics recorded for ``generation`` (None: none recorded, or for another
    generation; the caller then rebuilds the shard's statistics)."""
    try:
        data = json.loads((shard_dir / STATS_FILE).read_text(encoding="utf-8"))
        stats = data["stats"] if data.get("generation") == generation else None
        return dict(TermStats.from_dict(stats).to_dict()) if stats is not None else None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _write_stats(shard_dir: Path, generation: str, stats: dict[str, Any]) -> None:
    """Record a shard's per-shard BM25 counts (see cluster/terms.py) next to its generations;
    the generation's manifest has no field for them. Written after the shard commits, atomically."""
    tmp = shard_dir / f".{STATS_FILE}.tmp"
    tmp.write_text(json.dumps({"generation": generation, "stats": stats}), encoding="utf-8")
    os.replace(tmp, shard_dir / STATS_FILE)


def _export(index_dir: Path, committed: dict[str, Any] | None, notices: list[str]) -> dict[str, Any] | None:
    """The verified ONNX export in ``models/``: the committed one if intact, else a new one."""
    info = committed.get("onnx") if committed else None
    if info and qa_.export_intact(index_dir, info):
        return dict(info)
    return qa_.ensure_onnx(index_dir, notices)


def build_sharded(corpus: Path, index_dir: Path, *, cluster: str, shards: int | None = None,
                  rebuild: bool = False, encoder: str = "auto", progress: Any = None) -> qa_.IndexReport:
    """Index ``corpus`` into a sharded index at ``index_dir`` using the Ray cluster at ``cluster``.

    ``shards`` defaults to the committed index's count (or 2 on a first build); changing it
    rebuilds every shard. See the module docstring for what runs where.
    """
    started = time.perf_counter()
    corpus = Path(corpus).resolve()
    index_dir = Path(index_dir).absolute()
    sources = qa_.scan(corpus)
    if not sources:
        raise CorpusError(f"no documents in {corpus}; nothing was written")
    if (index_dir / "CURRENT").exists():
        raise ClusterError(f"{index_dir} holds a single-machine index: give the sharded index its own --index-dir")
    spec = qa_.model_spec()
    chunker = qa_.ChunkerSettings().to_dict()
    notices: list[str] = []
    with qa_.lock(index_dir):
        committed = cm.read_manifest_safe(index_dir)
        count = shards or (committed["shards"]["count"] if committed else 2)
        if count < 1:
            raise ClusterError(f"--shards must be at least 1, not {count}")
        if committed and not rebuild:
            if committed["shards"]["count"] != count:
                notices.append(f"shard count changed ({committed['shards']['count']} -> {count}): rebuilding every shard")
                rebuild = True
            elif committed["model"]["name"] != spec.name or committed.get("chunker") != chunker:
                notices.append("model or chunker settings changed: rebuilding every shard")
                rebuild = True
        if progress is not None:
            progress.stage("exporting ONNX model")
        onnx_info = _export(index_dir, committed, notices) if encoder != "torch" else None
        onnx_path = str(index_dir / qa_.MODELS_DIR / onnx_info["file"]) if onnx_info else None
        groups: dict[int, list[str]] = {i: [] for i in range(count)}
        for source in sources:
            groups[cm.shard_of(source.path, count)].append(source.path)
        ray = connect(cluster)
        task = ray.remote(max_retries=TASK_RETRIES, retry_exceptions=False)(build_shard)
        jobs = [ShardJob(i, str(cm.shard_dir(index_dir, i)), str(corpus), tuple(paths), spec.name,
                         chunker, encoder, onnx_path, rebuild) for i, paths in groups.items()]
        if progress is not None:
            progress.stage(f"building {count} shards on the cluster", count)
        pending = {task.remote(job): job.shard for job in jobs}
        results: dict[int, ShardResult] = {}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            ref = done[0]
            shard = pending.pop(ref)
            try:
                results[shard] = ray.get(ref)
            except Exception as exc:  # RayTaskError wraps the task's own error; keep its text
                for other in pending:
                    ray.cancel(other)
                raise ClusterError(f"shard {shard:03d} failed to build: {exc}. The committed index is unchanged.") from exc
            if progress is not None:
                progress.advance()
        report = _commit(index_dir, corpus, spec, chunker, onnx_info, count, results)
    indexed = sorted(p for r in results.values() for p in r.indexed)
    removed = sorted(p for r in results.values() for p in r.removed)
    files = report["files"]
    embedded = sum(r.embedded for r in results.values())
    chunks = report["counts"]["chunks"]
    rebuilt = sorted(s for s, r in results.items() if r.embedded or r.indexed or r.removed)
    if rebuilt:
        notices.append(f"shards rebuilt: {', '.join(f'{s:03d}' for s in rebuilt)} of {count}")
    kinds = sorted({r.encoder for r in results.values() if r.encoder})
    return qa_.IndexReport(
        index_dir, tuple(indexed), tuple(p for p in files if p not in set(indexed)), tuple(removed),
        tuple(tuple(s) for s in report["skipped"]), tuple(w for r in results.values() for w in r.warnings),
        chunks, embedded, chunks - embedded, time.perf_counter() - started, cm.CLUSTER_MANIFEST,
        not rebuilt and bool(committed), tuple(notices), "+".join(kinds),
    )


def _commit(index_dir: Path, corpus: Path, spec: Any, chunker: dict[str, Any],
            onnx_info: dict[str, Any] | None, count: int, results: dict[int, ShardResult]) -> dict[str, Any]:
    """Write the collection statistics and then, last, the cluster manifest."""
    generations = {f"{s:03d}": results[s].generation for s in sorted(results)}
    committed = cm.read_manifest_safe(index_dir)
    if committed and committed["shards"]["generations"] == generations and committed.get("onnx") == onnx_info:
        return committed  # nothing changed: the committed manifest stands
    stats = TermStats.total([TermStats.from_dict(r.stats) for r in results.values()])
    terms = cm.write_terms(index_dir, stats)
    owner = {path: shard for shard, r in results.items() for path in r.files}
    files: dict[str, Any] = {}
    row = 0
    # Global row numbers follow the single index (files in path order, chunks in file order), so
    # a sharded search returns the same chunk ids and breaks score ties the same way.
    for path in sorted(owner):
        record = results[owner[path]].files[path]
        files[path] = {**record, "shard": owner[path], "row": row}
        row += int(record["chunks"])
    if not files:
        raise CorpusError(f"no readable document in {corpus}. Nothing was committed.")
    manifest = {
        "model": {"name": spec.name, "dim": spec.dim, "max_seq_length": spec.max_seq_length,
                  "package": spec.pip_name},
        "chunker": chunker,
        "corpus": str(corpus),
        "onnx": onnx_info,
        "shards": {"count": count, "hash": "sha256(relative path) mod count",
                   "generations": generations,
                   "chunks": {f"{s:03d}": results[s].chunks for s in sorted(results)}},
        "terms": terms,
        "files": files,
        "skipped": sorted([list(s) for r in results.values() for s in r.skipped]),
        "counts": {"files": len(files), "chunks": row, "docs_bm25": stats.docs},
    }
    cm.commit(index_dir, manifest)
    return manifest
