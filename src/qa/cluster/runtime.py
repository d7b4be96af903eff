"""Connecting to Ray: the only module that decides how this process joins a cluster."""

from __future__ import annotations

import os
from typing import Any

from qa.errors import QAError

INSTALL_HINT = ('install the cluster extra: pip install -e ".[cluster]" in a qa checkout, '
                'pip install "qa[cluster]" otherwise (it is ray[client]>=2.40,<3)')


class ClusterError(QAError):
    """Ray is missing, unreachable, or a shard could not be built or served. Install
    ``qa[cluster]``, check the address (``ray status``), or rebuild the named shard."""


def ray_module() -> Any:
    """Ray, imported only when a cluster is asked for (the default install has no Ray)."""
    try:
        import ray
    except ImportError as exc:
        raise ClusterError(f"--cluster needs Ray, which is not installed: {INSTALL_HINT}") from exc
    return ray


def connect(address: str) -> Any:
    """Join the cluster at ``address`` and return the ``ray`` module.

    ``local`` starts a private Ray instance for this process, ``auto`` joins the cluster started
    on this machine with ``ray start``, ``ray://host:10001`` goes through the Ray Client, and any
    ``host:port`` is a head node's GCS address. A process already connected stays connected.
    """
    ray = ray_module()
    if ray.is_initialized():
        return ray
    if not address:
        raise ClusterError("--cluster needs an address: local, auto, host:port or ray://host:10001")
    options: dict[str, Any] = {"log_to_driver": False, "include_dashboard": False}
    # The shard code must be importable in every worker: ship this checkout's src/ with the job
    # when qa is not installed there (workers of a real cluster install qa[cluster] themselves).
    source_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    options["runtime_env"] = {"env_vars": {"PYTHONPATH": os.pathsep.join(
        p for p in (source_root, os.environ.get("PYTHONPATH", "")) if p)}}
    try:
        if address == "local":
            ray.init(**options)
        else:
            options.pop("include_dashboard")
            ray.init(address=address, **options)
    except Exception as exc:  # ConnectionError, RuntimeError, ValueError: all mean "cannot join"
        raise ClusterError(f"cannot connect to the Ray cluster at {address!r}: {exc}") from exc
    return ray
