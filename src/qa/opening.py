"""Opening an index folder, whichever kind it holds: a single index (``api``) or a sharded one
(``qa.cluster``, served by Ray actors). This is what ``qa.open_index``, ``qa.open_or_build`` and
``qa.ask`` are.

It sits after both kinds in the data flow, so neither has to know the other: ``api`` stays free
of the cluster package (``cluster.index`` subclasses ``api.Index``, and an import the other way
would be a cycle), and the cluster package is imported only once a folder is seen to hold
``cluster.json``. The default install (no Ray) therefore never imports Ray; opening a sharded
index there fails with the command that installs it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from qa import api
from qa.cluster.manifest import is_cluster_index
from qa.errors import ConfigError

if TYPE_CHECKING:
    from qa.embedding import Encoder
    from qa.indexing import IndexProgress
    from qa.types import Answer

DEFAULT_CLUSTER = "local"  # a sharded index with no address given: a private Ray for this process


def cluster_address(cluster: str | None = None) -> str:
    """The Ray address a sharded index is served on: ``cluster``, else ``$QA_CLUSTER``, else
    ``local`` (a Ray instance started for this process and stopped with it)."""
    return cluster or os.environ.get("QA_CLUSTER") or DEFAULT_CLUSTER


def _require_ray() -> None:
    from qa.cluster.runtime import ray_module

    ray_module()  # ClusterError naming `pip install -e ".[cluster]"` when Ray is missing


def open_index(index_dir: str | Path = "embeddings", encoder: str | Encoder = "auto",
               verify: bool = True, *, cluster: str | None = None) -> api.Index:
    """Open the committed index in ``index_dir`` (checksums verified).

    A sharded index (its folder holds ``cluster.json``) is served by one Ray actor per shard on
    ``cluster`` (a Ray address, ``auto`` or ``local``; default ``$QA_CLUSTER``, else ``local``)
    and returned as a ``qa.ClusterIndex``: search and ask it as any index. Actors started by
    ``qa serve`` for it are reused.

    Args:
        encoder: query encoder, "auto" (the verified ONNX export, else torch), "onnx" or
            "torch", or an Encoder object.

    Raises:
        IndexMissingError, IndexCorruptError, IndexMismatchError; ConfigError for ``encoder``;
        ClusterError for a sharded index when Ray is missing or the cluster unreachable.
    """
    if is_cluster_index(Path(index_dir)):
        _require_ray()
        from qa.cluster.index import open_cluster

        return open_cluster(index_dir, cluster_address(cluster), encoder=encoder)
    return api.open_index(index_dir, encoder=encoder, verify=verify)


def open_or_build(corpus_dir: str | Path | None = "corpus", index_dir: str | Path | None = None, *,
                  progress: IndexProgress | None = None, encoder: str | Encoder = "auto",
                  update: bool = True, rebuild: bool = False,
                  announce: Callable[[str], None] | None = None, cluster: str | None = None) -> api.Index:
    """``api.open_or_build`` for either kind of index: a sharded one when ``index_dir`` holds
    one, or when ``cluster`` is given (then a missing index is built sharded on it). A sharded
    index is opened as it is: ``update`` applies to a single index only.

    Raises:
        IndexMissingError: no index and no corpus folder to build it from.
    """
    if cluster is None and (index_dir is None or not is_cluster_index(Path(index_dir))):
        return api.open_or_build(corpus_dir, index_dir, progress=progress, encoder=encoder,
                                 update=update, rebuild=rebuild, announce=announce)
    if index_dir is None:
        raise ConfigError("a sharded index needs its index folder: give --index-dir")
    _require_ray()
    if corpus_dir is None:  # open the folder for the corpus it records, as api.open_or_build does
        if not is_cluster_index(Path(index_dir)):
            raise ConfigError(f"{index_dir} holds no sharded index yet: give the corpus to build it from")
        from qa.cluster.index import open_cluster

        return open_cluster(index_dir, cluster_address(cluster), encoder=encoder)
    from qa.cluster.index import open_or_build_cluster

    address = cluster_address(cluster)
    if rebuild:  # chunks are embedded with the default index encoder, as api.open_or_build does
        api.build_index(corpus_dir, index_dir, rebuild=True, progress=progress, cluster=address)
    # ``update`` is not applied to a sharded index (reading every file of a corpus that needs
    # a cluster is not a check to make on open): `qa index --cluster` brings it up to date.
    return open_or_build_cluster(corpus_dir, index_dir, cluster=address, encoder=encoder,
                                 update=False, progress=progress, announce=announce)


def ask(question: str, index: api.Index | str | Path = "embeddings", k: int = 5, mode: str = "hybrid") -> Answer:
    """Answer one question from an index (an opened ``Index`` or its directory, sharded or not).

    Returns an ``Answer`` with ``text``, ``grounded``, ``citations`` and ``passages``.
    """
    opened = index if isinstance(index, api.Index) else open_index(index)
    return opened.answer(question, k=k, mode=mode)
