"""The optional Ray path (``pip install "qa[cluster]"``): a sharded index built by Ray tasks
and served by one Ray actor per shard. Nothing here imports Ray until a cluster is used.

    >>> from qa.cluster import build_sharded, open_cluster
    >>> build_sharded("corpus", "embeddings", cluster="local", shards=4)
    >>> index = open_cluster("embeddings", cluster="local")
    >>> index.search("When was the Pyongyang Declaration signed?")
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from qa.cluster.manifest import is_cluster_index

__all__ = ["ClusterIndex", "build_sharded", "is_cluster_index", "open_cluster"]

if TYPE_CHECKING:
    from qa.cluster.build import build_sharded
    from qa.cluster.index import ClusterIndex, open_cluster

_LAZY = {"build_sharded": "qa.cluster.build", "ClusterIndex": "qa.cluster.index",
         "open_cluster": "qa.cluster.index"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'qa.cluster' has no attribute {name!r}")
