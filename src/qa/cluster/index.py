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
from qa.cluster.serve import DEADLINE, ClusterRetriever, ClusterView, ShardPool
from qa.errors import ConfigError, IndexMissingError
from qa.types import Answer, Fingerprint, Hit


class ClusterIndex(Index):
    """Search and answer exactly as ``Index`` does; after each call ``missing_shards`` names the
    shards that did not answer within the deadline (empty: the result is complete)."""

    def __init__(self, view: ClusterView, pool: ShardPool, encoder: str | qa_.Encoder = "auto") -> None:
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
               search_query: str | None = None, assumption: str | None = None,
               threshold: float | None = None) -> Answer:
        self.retriever.missing.clear()
        try:
            return super().answer(question, k=k, mode=mode, search_query=search_query,
                                  assumption=assumption, threshold=threshold)
        finally:
            self._track()

    def _fingerprint(self, answer: Answer, answer_model_sha256: str,
                     nli_model_sha256: str | None = None) -> Fingerprint:
        return qa_.fingerprint(answer, self.root / cm.CLUSTER_MANIFEST, answer_model_sha256, nli_model_sha256)

    def partial(self) -> dict[str, Any]:
        """The JSON fields that mark a partial result; empty when every shard answered."""
        return {"partial": True, "missing_shards": self.missing_shards} if self.missing_shards else {}

    def close(self) -> None:
        self.pool.close()


def open_cluster(index_dir: str | Path, cluster: str, encoder: str | qa_.Encoder = "auto",
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
