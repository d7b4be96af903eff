"""An opened sharded index: ``api.Index`` with its retrieval served by the shard actors."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import qa.cluster._adapters as qa_
import qa.cluster.manifest as cm
from qa.api import Index
from qa.cluster.build import build_sharded
from qa.cluster.runtime import ClusterError
from qa.cluster.serve import DEADLINE, ClusterRetriever, ClusterView, ShardPool, stop_served
from qa.errors import ConfigError, IndexMissingError
from qa.types import Answer, Hit


class ClusterIndex(Index):
    """Search and answer exactly as ``Index`` does; after each call ``missing_shards`` names the
    shards that did not answer within the deadline (empty: the result is complete)."""

    def __init__(self, view: ClusterView, pool: ShardPool, encoder: str | qa_.Encoder = "auto") -> None:
        super().__init__(view, encoder)  # type: ignore[arg-type]
        self.pool = pool
        self.missing_shards: list[str] = []
        # Read at open, as a single index reads its generation's: answers name the build the
        # actors were started on, even after a later build has replaced cluster.json.
        self.identity = qa_.manifest_identity(view.root / cm.CLUSTER_MANIFEST)

    @property
    def retriever(self) -> ClusterRetriever:
        if self._retriever is None:
            encoder = qa_.query_encoder(self.stored, self._encoder_choice, self.notices)
            self._retriever = ClusterRetriever(self.stored, encoder, self.pool)  # type: ignore[arg-type]
        return self._retriever  # type: ignore[return-value]

    def _track(self) -> None:
        self.missing_shards = sorted(self.retriever.missing)
        self.retriever.missing.clear()
        if self.missing_shards:
            self.notices.append(
                f"partial result: shard(s) {', '.join(self.missing_shards)} did not answer within "
                f"{self.pool.deadline:.0f} s; their passages are missing"
            )

    def search(self, query: str, k: int = 5, mode: str = "hybrid") -> list[Hit]:
        self.retriever.missing.clear()
        try:
            return super().search(query, k=k, mode=mode)
        finally:
            self._track()

    def answer(self, question: str, k: int = 5, mode: str = "hybrid", *,
               search_query: str | None = None, assumption: str | None = None,
               threshold: float | None = None) -> Answer:
        self.retriever.missing.clear()
        try:
            return super().answer(question, k=k, mode=mode, search_query=search_query,
                                  assumption=assumption, threshold=threshold)
        finally:
            self._track()

    def partial(self) -> dict[str, Any]:
        """The JSON fields that mark a partial result; empty when every shard answered."""
        return {"partial": True, "missing_shards": self.missing_shards} if self.missing_shards else {}

    def close(self) -> None:
        self.pool.close()


def open_cluster(index_dir: str | Path, cluster: str, encoder: str | qa_.Encoder = "auto",
                 deadline: float | None = None, *, detached: bool = False) -> ClusterIndex:
    """Open the sharded index in ``index_dir``: one actor per shard on ``cluster``, reusing those
    ``qa serve`` left running for this build, starting the others (``detached``: as served ones).

    ``deadline``: seconds a query waits for every shard (default ``$QA_CLUSTER_DEADLINE``, else
    30) before answering with what it has, marked partial.
    """
    if deadline is None:
        try:
            deadline = float(os.environ.get("QA_CLUSTER_DEADLINE") or DEADLINE)
        except ValueError as exc:
            raise ConfigError(f"QA_CLUSTER_DEADLINE must be a number of seconds, not {os.environ['QA_CLUSTER_DEADLINE']!r}") from exc
    index_dir = Path(index_dir).absolute()
    manifest = cm.read_manifest(index_dir)
    qa_.model_spec()  # fails early, with the install hint, when the model package is missing
    stats = cm.read_terms(index_dir, manifest["terms"])
    view = ClusterView(index_dir, manifest, stats)
    return ClusterIndex(view, ShardPool(cluster, index_dir, manifest, deadline, detached=detached), encoder)


def serve_index(index_dir: str | Path, cluster: str) -> dict[str, int]:
    """Start the shard actors of the sharded index in ``index_dir`` on ``cluster`` as named,
    detached actors and wait until each has loaded its shard: later processes that open the
    index on the same cluster (``qa ask --cluster``) use them instead of loading the shards
    again. Returns each shard's actor pid. ``stop_serving`` removes them.

    Raises:
        ClusterError: ``cluster`` is ``local`` (a private Ray ends with this process, and its
            actors with it), or a shard could not be loaded.
    """
    if cluster == "local":
        raise ClusterError("qa serve needs a Ray cluster that outlives it: start one with `ray start --head`, "
                           "then pass --cluster auto (or host:port, ray://host:10001)")
    index = open_cluster(index_dir, cluster, detached=True)
    pids, missing = index.pool.call("pid", {name: () for name in index.pool.actors})
    if missing:
        raise ClusterError(f"shard(s) {', '.join(missing)} did not load within {index.pool.deadline:.0f} s; "
                           "they stay starting on the cluster: check `ray status`, or `qa serve --stop`")
    return pids


def stop_serving(index_dir: str | Path, cluster: str) -> list[str]:
    """Remove the actors ``serve_index`` started for the index in ``index_dir`` (every build of
    it); the names of those removed."""
    return stop_served(cluster, Path(index_dir).absolute())


def open_or_build_cluster(corpus_dir: str | Path, index_dir: str | Path, *, cluster: str,
                          encoder: str | qa_.Encoder = "auto", update: bool = False, progress: Any = None,
                          announce: Callable[[str], None] | None = None) -> ClusterIndex:
    """``api.open_or_build`` for a sharded index: open it, building it first on the cluster when
    there is none (``update`` is not supported: run ``qa index --cluster`` to bring it up to date)."""
    try:
        return open_cluster(index_dir, cluster, encoder=encoder)
    except IndexMissingError as exc:
        corpus = Path(corpus_dir)
        if update or not corpus.is_dir():
            raise
        if announce is not None:
            announce(f"no index in {index_dir} yet: building it from {corpus}/ (first run)")
        if not isinstance(encoder, str):
            raise ConfigError("a sharded index is built by Ray tasks: give the encoder by name") from exc
        built = build_sharded(corpus, Path(index_dir), cluster=cluster, progress=progress)
    index = open_cluster(index_dir, cluster, encoder=encoder)
    index.built = built
    return index
