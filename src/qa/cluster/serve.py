"""Serving a sharded index: one Ray actor per shard, a driver that fans out, merges and fuses.

Each ``ShardServer`` actor holds its shard's FAISS index and a BM25 index scored with the
collection-wide statistics (terms.py). A query goes to every shard at once with the query
vector (embedded once, on the driver); each shard returns its dense and lexical top candidates
with both scores; the driver keeps the global top of each list and fuses them with the single
index's formula (``retrieval.Retriever.rank``): same candidates, same max-BM25 normalisation,
same scores, same tie-break on the global row. Only then are the texts of the winners fetched.

Faults: actors are created with ``max_restarts`` and ``max_task_retries=-1``, so Ray restarts a
dead shard (its constructor reloads the shard from shared storage) and re-sends the calls that
were in flight. The driver waits for every shard until the query's deadline; a shard that has
not answered by then is named in ``missing_shards`` and the hits are marked partial, never
passed off as complete.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import qa.cluster._adapters as qa_
import qa.cluster.manifest as cm
from qa.cluster.runtime import ClusterError, connect
from qa.cluster.terms import CollectionTerms, TermStats, global_bm25
from qa.retrieval import CANDIDATES, Scored

if TYPE_CHECKING:
    import numpy as np

MAX_RESTARTS = 5  # per shard actor; after that the shard is reported missing until reopened
DEADLINE = 30.0  # seconds a query waits for all shards (a restarting shard reloads in this time)
CHUNK_CACHE = 20_000  # chunk texts kept on the driver (winners of recent queries)


class ShardServer:
    """One shard in memory. Runs as a Ray actor; a plain class so it can be tested without Ray."""

    def __init__(self, shard_dir: str, generation: str, model: str, rows: dict[str, int],
                 index_dir: str, terms: dict[str, Any]) -> None:
        import numpy as np

        self.stored = qa_.open_shard(Path(shard_dir), model)
        if self.stored.generation.name != generation:
            raise ClusterError(
                f"shard {shard_dir} holds {self.stored.generation.name}, the cluster manifest names "
                f"{generation}: an index build is committing; open the index again"
            )
        first_local: dict[str, int] = {}
        ids = np.empty(self.stored.size, dtype=np.int64)
        for row, stored in enumerate(self.stored.chunks):
            path = stored.chunk.path
            first_local.setdefault(path, row)
            if path not in rows:
                raise ClusterError(f"shard {shard_dir} holds {path}, which the cluster manifest does not list")
            ids[row] = rows[path] + row - first_local[path]
        self.global_ids = ids
        self.local = {int(g): row for row, g in enumerate(ids)}
        stats = cm.read_terms(Path(index_dir), terms)
        texts = [s.chunk.embedding_text() for s in self.stored.chunks]
        qa_.set_lexical(self.stored, global_bm25(qa_.lexical_tokens(texts), stats))
        self.queries = 0  # candidate calls answered: shows which process's queries a served actor took

    def pid(self) -> int:
        return os.getpid()

    def served(self) -> int:
        return self.queries

    def node(self) -> str:
        """The Ray node this shard is served from (hex id)."""
        import ray

        return str(ray.get_runtime_context().get_node_id())

    def candidates(self, query: str, vector: np.ndarray | None, pool: int, mode: str) -> dict[str, list[Any]]:
        """This shard's dense and lexical top ``pool``, each row with both of its scores.

        Mirrors ``Retriever.rank`` up to the point where it needs the whole collection: the
        lexical score of a row is its full BM25 score, and in hybrid mode a row found only
        lexically gets its cosine from its stored vector, as the single index does.
        """
        import numpy as np

        self.queries += 1
        size = self.stored.size
        depth = min(size, pool)
        dense: dict[int, float] = {}
        lexical_all = None
        if mode in ("dense", "hybrid") and vector is not None:
            dense = qa_.shard_dense(self.stored, vector, depth)
        if mode in ("lexical", "hybrid"):
            lexical_all = qa_.shard_lexical_scores(self.stored, query)
        lexical: dict[int, float] = {}
        if lexical_all is not None:
            top = np.argpartition(-lexical_all, min(depth, size - 1))[:depth]
            lexical = {int(r): float(lexical_all[r]) for r in top if lexical_all[r] > 0}
        rows = sorted(set(dense) | set(lexical))
        dense_all = dict(dense)
        missing = [r for r in rows if r not in dense]
        if mode == "hybrid" and missing and vector is not None:
            stacked = np.vstack([self.stored.faiss_index.reconstruct(r) for r in missing])
            dense_all.update(zip(missing, (stacked @ vector).tolist(), strict=True))
        return {
            "rows": [int(self.global_ids[r]) for r in rows],
            "dense": [dense_all.get(r) for r in rows],
            "lexical": [float(lexical_all[r]) if lexical_all is not None else 0.0 for r in rows],
            "in_dense": [r in dense for r in rows],
            "in_lexical": [r in lexical for r in rows],
        }

    def chunks(self, rows: list[int]) -> list[tuple[int, dict[str, Any]]]:
        """The chunks at global ``rows``, each with the chunk before it in the same file (the
        answerer reads that one for context)."""
        out: list[tuple[int, dict[str, Any]]] = []
        for row in rows:
            local = self.local.get(row)
            if local is None:
                continue
            for r in (local - 1, local):
                if r < 0 or self.stored.chunks[r].chunk.path != self.stored.chunks[local].chunk.path:
                    continue
                stored = self.stored.chunks[r]
                c = stored.chunk
                out.append((int(self.global_ids[r]), {
                    "path": c.path, "title": c.title, "heading_path": list(c.heading_path), "text": c.text,
                    "start_char": c.start_char, "end_char": c.end_char, "start_line": c.start_line,
                    "end_line": c.end_line, "page": c.page, "hash": stored.text_hash,
                }))
        return out


def _stored_chunk(record: dict[str, Any]) -> qa_.StoredChunk:
    from qa.types import Chunk

    fields = {k: v for k, v in record.items() if k != "hash"}
    fields["heading_path"] = tuple(fields["heading_path"])
    return qa_.StoredChunk(Chunk(**fields), record["hash"])


# A row whose chunk is not on the driver: the answerer only compares its path with a hit's path
# (to read the sentence before a hit), and an empty path matches no file.
_ELSEWHERE = _stored_chunk({"path": "", "title": "", "heading_path": [], "text": "", "start_char": 0,
                            "end_char": 0, "start_line": 0, "end_line": 0, "page": None, "hash": ""})


class ChunkCache:
    """Global row -> chunk, for the rows the last queries returned (see ``ClusterView``)."""

    def __init__(self) -> None:
        self.rows: dict[int, qa_.StoredChunk] = {}

    def __getitem__(self, row: int) -> qa_.StoredChunk:
        return self.rows.get(row, _ELSEWHERE)

    def add(self, items: list[tuple[int, dict[str, Any]]]) -> None:
        for row, record in items:
            self.rows[row] = _stored_chunk(record)
        while len(self.rows) > CHUNK_CACHE:
            self.rows.pop(next(iter(self.rows)))


class ClusterView:
    """What ``api.Index``, the retriever and the answerer read from a stored index, for a
    sharded one: the cluster manifest, the chunk texts fetched so far, collection statistics."""

    def __init__(self, index_dir: Path, manifest: dict[str, Any], stats: TermStats) -> None:
        self.root = index_dir
        self.cluster = manifest
        self.manifest = qa_.typed_manifest(manifest)
        self.chunks = ChunkCache()
        self._terms = CollectionTerms(stats)

    @property
    def size(self) -> int:
        return int(self.cluster["counts"]["chunks"])

    def lexical(self) -> CollectionTerms:
        return self._terms

    @property
    def onnx_path(self) -> Path | None:
        info = self.manifest.onnx
        return self.root / qa_.MODELS_DIR / info.file if info else None


NAMESPACE = "qa"  # Ray namespace of the shard actors `qa serve` leaves running


def actor_prefix(index_dir: Path) -> str:
    """The start of the names of the served actors of the index at ``index_dir``."""
    import hashlib

    return f"qa-shard-{hashlib.sha256(str(Path(index_dir).absolute()).encode('utf-8')).hexdigest()[:16]}-"


def actor_name(index_dir: Path, shard: str, generation: str) -> str:
    """A served shard actor's name: the index folder, the shard and the generation it holds, so
    a process never reuses an actor serving another index or an older build of this one."""
    return f"{actor_prefix(index_dir)}{shard}-{generation}"


class ShardPool:
    """The shard actors of one opened index, and the fan-out with its deadline.

    Actors that ``qa serve`` started for this very build (named, detached: they outlive the
    process that made them) are reused; the others are started here, owned by this process
    and stopped by ``close``. ``detached`` starts them as served actors instead.
    """

    def __init__(self, address: str, index_dir: Path, manifest: dict[str, Any], deadline: float = DEADLINE,
                 detached: bool = False) -> None:
        self.ray = connect(address)
        self.index_dir = index_dir
        self.manifest = manifest
        self.deadline = deadline
        self.detached = detached
        self.actor_class = self.ray.remote(ShardServer)
        self.actors: dict[str, Any] = {}
        self.served: set[str] = set()  # shards answered by served actors this process must not stop
        shards = manifest["shards"]
        for name, generation in shards["generations"].items():
            if generation and shards.get("chunks", {}).get(name, 1):
                self.actors[name] = self._start(name)

    def _start(self, name: str) -> Any:
        generation = self.manifest["shards"]["generations"][name]
        served = actor_name(self.index_dir, name, generation)
        try:
            actor = self.ray.get_actor(served, namespace=NAMESPACE)
        except ValueError:  # no actor of that name (never served, stopped, or dead for good)
            actor = None
        if actor is not None:
            self.served.add(name)
            return actor
        self.served.discard(name)
        rows = {p: r["row"] for p, r in self.manifest["files"].items() if f"{r['shard']:03d}" == name}
        options: dict[str, Any] = {"max_restarts": MAX_RESTARTS, "max_task_retries": -1, "num_cpus": 0,
                                   "scheduling_strategy": "SPREAD"}
        if self.detached:
            options.update(name=served, namespace=NAMESPACE, lifetime="detached", get_if_exists=True)
            self.served.add(name)
        return self.actor_class.options(**options).remote(
            str(self.index_dir / cm.SHARDS_DIR / name), generation, self.manifest["model"]["name"], rows,
            str(self.index_dir), self.manifest["terms"])

    def call(self, method: str, args: dict[str, tuple[Any, ...]]) -> tuple[dict[str, Any], list[str]]:
        """``method(*args[shard])`` on each named shard; returns the answers and the shards that
        gave none before the deadline. A shard whose actor is gone for good is started afresh
        for the next call."""
        ray = self.ray
        refs = {getattr(self.actors[name], method).remote(*a): name for name, a in args.items()}
        answers: dict[str, Any] = {}
        failed: list[str] = []
        end = time.monotonic() + self.deadline
        pending = list(refs)
        while pending:
            done, pending = ray.wait(pending, num_returns=1, timeout=max(0.0, end - time.monotonic()))
            if not done:
                break
            name = refs[done[0]]
            try:
                answers[name] = ray.get(done[0])
            except ray.exceptions.RayActorError:
                failed.append(name)
                self.actors[name] = self._start(name)  # restarts exhausted: a new actor, next time
            except ray.exceptions.RayTaskError as exc:
                raise ClusterError(f"shard {name} failed: {exc}") from exc
        for ref in pending:
            failed.append(refs[ref])
            ray.cancel(ref)
        return answers, sorted(failed)

    def pids(self) -> dict[str, int]:
        answers, _ = self.call("pid", {name: () for name in self.actors})
        return answers

    def close(self) -> None:
        """Stop the actors this process started; served ones stay up for the next process."""
        for name, actor in self.actors.items():
            if name not in self.served:
                self.ray.kill(actor, no_restart=True)
        self.actors.clear()


def stop_served(address: str, index_dir: Path) -> list[str]:
    """Kill every served actor of the index at ``index_dir`` (any build of it); their names."""
    ray = connect(address)
    from ray.util import list_named_actors

    prefix = actor_prefix(index_dir)
    stopped = []
    for entry in list_named_actors(all_namespaces=True):
        if entry.get("namespace") == NAMESPACE and str(entry.get("name", "")).startswith(prefix):
            try:
                ray.kill(ray.get_actor(entry["name"], namespace=NAMESPACE), no_restart=True)
            except ValueError:  # gone meanwhile
                continue
            stopped.append(entry["name"])
    return sorted(stopped)


class ClusterRetriever(qa_.Retriever):
    """``Retriever`` whose ``rank`` fans out to the shard actors; ``search`` and the answerer
    run unchanged on top of it."""

    stored: ClusterView  # type: ignore[assignment]

    def __init__(self, view: ClusterView, encoder: qa_.Encoder, pool: ShardPool) -> None:
        super().__init__(view, encoder)  # type: ignore[arg-type]
        self.pool = pool
        self.missing: set[str] = set()

    def rank(self, query: str, depth: int = 10, mode: str = "hybrid", vector: np.ndarray | None = None) -> list[Scored]:
        size = self.stored.size
        if size == 0 or not query.strip():
            return []
        pool = min(size, max(CANDIDATES, depth))
        if mode in ("dense", "hybrid") and vector is None:
            vector = self.embed_cached([query])[0]
        answers, failed = self.pool.call("candidates", {n: (query, vector, pool, mode) for n in self.pool.actors})
        self.missing.update(failed)
        rows: dict[int, tuple[float | None, float, bool, bool]] = {}
        for answer in answers.values():
            for row, d, lex, in_d, in_l in zip(answer["rows"], answer["dense"], answer["lexical"],
                                               answer["in_dense"], answer["in_lexical"], strict=True):
                rows[row] = (d, lex, in_d, in_l)
        dense_top = sorted((r for r, v in rows.items() if v[2]), key=lambda r: (-(rows[r][0] or 0.0), r))[:pool]
        lexical_top = sorted((r for r, v in rows.items() if v[3]), key=lambda r: (-rows[r][1], r))[:pool]
        if mode == "dense":
            ranked = [Scored(r, rows[r][0] or 0.0, rows[r][0], None) for r in dense_top]
        elif mode == "lexical":
            ranked = [Scored(r, rows[r][1], None, rows[r][1]) for r in lexical_top]
        else:
            best_lexical = max((rows[r][1] for r in lexical_top), default=0.0) or 1.0
            w = self.dense_weight
            ranked = []
            for r in set(dense_top) | set(lexical_top):
                d = rows[r][0] or 0.0
                lex = rows[r][1]
                ranked.append(Scored(r, w * d + (1 - w) * lex / best_lexical, d, lex))
        ranked.sort(key=lambda s: (-s.score, s.row))
        return self._with_texts(ranked, depth)

    def _with_texts(self, ranked: list[Scored], depth: int) -> list[Scored]:
        """The best ``2 * depth`` rows (room for the duplicates ``search`` drops), with their
        texts fetched from their shards; rows whose shard died since are dropped and reported."""
        ranked = ranked[: depth * 2]
        by_shard: dict[str, list[int]] = {}
        for scored in ranked:
            if scored.row not in self.stored.chunks.rows:
                by_shard.setdefault(self._shard_of(scored.row), []).append(scored.row)
        if by_shard:
            answers, failed = self.pool.call("chunks", {n: (rows,) for n, rows in by_shard.items()})
            self.missing.update(failed)
            for items in answers.values():
                self.stored.chunks.add(items)
        return [s for s in ranked if s.row in self.stored.chunks.rows]

    def _shard_of(self, row: int) -> str:
        import bisect

        starts, names = self._spans()
        return names[bisect.bisect_right(starts, row) - 1]

    def _spans(self) -> tuple[list[int], list[str]]:
        if not hasattr(self, "_span_cache"):
            files = sorted(self.stored.cluster["files"].values(), key=lambda r: r["row"])
            self._span_cache = ([r["row"] for r in files], [f"{r['shard']:03d}" for r in files])
        return self._span_cache
