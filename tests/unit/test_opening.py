"""qa.open_index on either kind of index folder (qa.opening), without a cluster: which Ray address
a sharded index is served on, and what a default install (no Ray) says when asked to open one."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

import qa
from qa.opening import cluster_address

from ..conftest import ROOT


def test_a_sharded_index_is_served_on_local_unless_told_otherwise(monkeypatch):
    monkeypatch.delenv("QA_CLUSTER", raising=False)
    assert cluster_address() == "local"
    monkeypatch.setenv("QA_CLUSTER", "ray://head:10001")
    assert cluster_address() == "ray://head:10001"
    assert cluster_address("auto") == "auto"  # --cluster over QA_CLUSTER


def test_settings_take_the_cluster_from_the_flag_over_qa_cluster(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # no qa.toml
    monkeypatch.delenv("QA_CONFIG", raising=False)
    monkeypatch.setenv("QA_CLUSTER", "auto")
    assert qa.resolve_settings().cluster == "auto"
    assert qa.resolve_settings(cluster="host:6379").cluster == "host:6379"
    monkeypatch.delenv("QA_CLUSTER")
    assert qa.resolve_settings().cluster is None


@pytest.mark.parametrize("opener", ["open_index", "open_or_build"])
def test_opening_a_sharded_index_without_ray_names_the_install_command(monkeypatch, tmp_path, opener):
    index_dir = tmp_path / "sharded"
    index_dir.mkdir()
    (index_dir / "cluster.json").write_text(json.dumps({"cluster_format": 1}), encoding="utf-8")
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now fails, as without qa[cluster]
    with pytest.raises(qa.QAError, match=r'pip install -e "\.\[cluster\]"'):
        getattr(qa, opener)(index_dir=index_dir)


def test_the_public_api_and_help_import_neither_ray_nor_the_serving_side():
    code = ("import sys, qa, qa.cli, qa.api, qa.opening; qa.cli.cli(['--help'], standalone_mode=False); "
            "print(sorted(m for m in sys.modules if m == 'ray' or m in ('qa.cluster.index', 'qa.cluster.serve')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT / "src")})
    assert out.stdout.strip().splitlines()[-1] == "[]"
