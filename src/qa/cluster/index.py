"""An opened sharded index: ``api.Index`` with its retrieval served by the shard actors."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from qa.api import Index
from qa.cluster import _adapters as qa_
from qa.cluster import manifest as cm
from qa.cluster.serve import DEADLINE, ClusterRetriever, ClusterView, ShardPool
from qa.errors import ConfigError
from qa.types import Answer, Hit


class ClusterIndex(Index):
    """Search and answer exactly as ``Index`` does; after each call ``missing_shards`` names the
    shards that did not answer within the deadline (empty: the result is complete)."""

    def __init__(self, view: ClusterView, pool: ShardPool, encoder: str = "auto") -> None:
        super().__init__(view, encoder)  # type: ignore[arg-type]
        self.pool = pool
        self.missing_shards: list[str] = []

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
               search_query: str | None = None, assumption: str | None = None) -> Answer:
        self.retriever.missing.clear()
        try:
            return super().answer(question, k=k, mode=mode, search_query=search_query, assumption=assumption)
        finally:
            self._track()

    def partial(self) -> dict[str, Any]:
        """The JSON fields that mark a partial result; empty when every shard answered."""
        return {"partial": True, "missing_shards": self.missing_shards} if self.missing_shards else {}

    def close(self) -> None:
        self.pool.close()


def open_cluster(index_dir: str | Path, cluster: str, encoder: str = "auto",
                 deadline: float | None = None) -> ClusterIndex:
    """Open the sharded index in ``index_dir``: start one actor per shard on ``cluster``.

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
    return ClusterIndex(view, ShardPool(cluster, index_dir, manifest, deadline), encoder)
