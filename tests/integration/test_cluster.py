"""The sharded index on a real multi-process Ray cluster on loopback (ray.cluster_utils.Cluster:
a head and two worker nodes), with the real model and FAISS, checked against the single index
over the same corpus. The cluster is started once for the module."""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

ray = pytest.importorskip("ray", reason='Ray is not installed: pip install -e ".[cluster]" to run the cluster tests')

from ..conftest import CORPUS, QUESTIONS  # noqa: E402

MODES = ("dense", "lexical", "hybrid")
SHARDS = 4
# Queries wait this long for every shard. This machine is shared with a training run that gets
# the CPU first; a deadline is not what these tests measure, except where a test sets its own.
os.environ["QA_CLUSTER_DEADLINE"] = "900"
# onnxruntime embeds a chunk to the same vector (within 1e-6) whatever else is in its batch.
# OpenVINO does not here (cosine 0.999995 between the same chunk embedded in a shard's batch and
# in the whole corpus's), which would blur the comparison of the retrieval machinery itself.
ENCODER = "onnx"


def _generate(target: Path, n: int = 36, seed: int = 7) -> None:
    """Documents that share a vocabulary (so BM25 document frequencies differ between shards)
    and repeat years and numbers (so lexical scores tie and global statistics matter)."""
    rng = random.Random(seed)
    topics = ["harbour", "railway", "orchard", "glacier", "library", "foundry", "vineyard",
              "observatory", "canal", "monastery", "lighthouse", "quarry", "textile", "bridge"]
    verbs = ["built", "restored", "expanded", "closed", "surveyed", "flooded", "rebuilt", "mapped"]
    for i in range(n):
        a, b = rng.sample(topics, 2)
        lines = [f"# The {a} of town {i}", ""]
        for part in range(rng.randint(2, 5)):
            sentences = [
                f"In {rng.randint(1700, 2020)} the {rng.choice([a, b])} near district {rng.randint(1, 30)} "
                f"was {rng.choice(verbs)} by {rng.randint(2, 900)} workers."
                for _ in range(rng.randint(3, 6))
            ]
            lines += [f"## Part {part}", "", " ".join(sentences), ""]
        folder = target / ("towns" if i % 3 else "")
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"town-{i:03d}.md").write_text("\n".join(lines), encoding="utf-8")


QUERIES = [json.loads(line)["question"] for line in QUESTIONS.read_text(encoding="utf-8").splitlines()[:12]] + [
    "When was the lighthouse restored?", "railway workers district 12", "glacier surveyed",
    "Which harbour was flooded?", "vineyard", "How many workers built the bridge?",
]


@pytest.fixture(scope="module")
def loopback():
    """A head and two worker nodes, each its own raylet and processes, on this machine."""
    from ray.cluster_utils import Cluster

    for attempt in range(5):
        # Ray gives a raylet 30 s to register; on this shared 2-core machine under a load of 15+
        # that can run out. Starting the cluster again is not a retry of anything under test.
        cluster = Cluster(shutdown_at_exit=True)
        try:
            cluster.add_node(num_cpus=1, include_dashboard=False)
            for _ in range(2):
                cluster.add_node(num_cpus=1)
            cluster.wait_for_nodes()
            break
        except Exception:
            cluster.shutdown()
            if attempt == 4:
                raise
    ray.init(address=cluster.address, log_to_driver=False)
    yield cluster
    ray.shutdown()
    cluster.shutdown()


@pytest.fixture(scope="module")
def ray_cluster(loopback) -> str:
    return loopback.address


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    target = tmp_path_factory.mktemp("cluster") / "corpus"
    shutil.copytree(CORPUS, target)
    _generate(target)
    return target


@pytest.fixture(scope="module")
def single(corpus):
    import qa

    index_dir = corpus.parent / "single"
    qa.build_index(corpus, index_dir, encoder=ENCODER)
    return qa.open_index(index_dir)


@pytest.fixture(scope="module")
def sharded_dir(corpus, ray_cluster) -> Path:
    import qa

    index_dir = corpus.parent / "sharded"
    report = qa.build_index(corpus, index_dir, cluster=ray_cluster, shards=SHARDS, encoder=ENCODER)
    assert report.chunks_embedded == report.chunks > 0
    return index_dir


@pytest.fixture(scope="module")
def sharded(sharded_dir, ray_cluster):
    import qa

    index = qa.open_cluster(sharded_dir, ray_cluster)
    yield index
    index.close()


def _key(hit) -> tuple:
    return (hit.chunk_id, hit.path, hit.start_char, hit.end_char)


def _assert_same(expected, got) -> None:
    assert [_key(h) for h in got] == [_key(h) for h in expected]
    for a, b in zip(expected, got, strict=True):
        assert b.score == pytest.approx(a.score, abs=1e-5)
        for field in ("dense_score", "lexical_score"):
            x, y = getattr(a, field), getattr(b, field)
            assert (x is None) == (y is None) and (x is None or y == pytest.approx(x, abs=1e-5)), field


def test_every_shard_is_an_ordinary_index_and_files_are_partitioned(sharded_dir, corpus):
    import qa
    from qa.cluster.manifest import read_manifest, shard_dir, shard_of

    manifest = read_manifest(sharded_dir)
    assert manifest["shards"]["count"] == SHARDS
    populated = [s for s, g in manifest["shards"]["generations"].items() if g]
    assert len(populated) >= 3  # the generated documents spread over the shards
    seen: set[str] = set()
    for s in range(SHARDS):
        if not manifest["shards"]["generations"][f"{s:03d}"]:
            continue
        part = qa.open_index(shard_dir(sharded_dir, s))  # checksums verified, as any index
        paths = set(part.manifest.files)
        assert all(shard_of(p, SHARDS) == s for p in paths)
        assert not paths & seen
        seen |= paths
    assert seen == {p.relative_to(corpus).as_posix() for p in corpus.rglob("*") if p.is_file()}


@pytest.mark.parametrize("mode", MODES)
def test_sharded_search_ranks_exactly_as_the_single_index(single, sharded, mode):
    for query in QUERIES:
        expected = single.search(query, k=10, mode=mode)
        got = sharded.search(query, k=10, mode=mode)
        assert len(expected) == 10 or mode == "lexical"
        _assert_same(expected, got)
        assert sharded.missing_shards == []


def test_sharded_answers_are_the_single_index_answers(single, sharded):
    import qa

    manifest_sha256 = hashlib.sha256((sharded.root / "cluster.json").read_bytes()).hexdigest()
    for query in QUERIES[:6]:
        got, expected = qa.ask(query, sharded).to_dict(), qa.ask(query, single).to_dict()
        # Only the index a fingerprint names differs: a sharded answer names its cluster manifest.
        got_index, expected_index = got["fingerprint"].pop("index"), expected["fingerprint"].pop("index")
        assert got == expected
        assert got_index == {"generation": sharded.root.name, "manifest_sha256": manifest_sha256}
        assert expected_index["generation"].startswith("gen-")


def test_cli_search_and_ask_print_the_same_json(single, sharded_dir, ray_cluster):
    from click.testing import CliRunner

    from qa.cli import cli

    runner = CliRunner()
    query = "When was the Pyongyang Declaration signed?"
    for command in (["search", query, "-k", "5", "--json"], ["ask", query, "--json"]):
        one = runner.invoke(cli, [*command, "--index-dir", str(single.root)])
        many = runner.invoke(cli, [*command, "--index-dir", str(sharded_dir), "--cluster", ray_cluster])
        assert one.exit_code == 0 and many.exit_code == 0, many.output
        got, expected = json.loads(many.stdout), json.loads(one.stdout)
        if "fingerprint" in got:  # the index it names differs (cluster.json vs a generation)
            assert got["fingerprint"].pop("index")["generation"] == Path(sharded_dir).name
            expected["fingerprint"].pop("index")
        assert got == expected
    # No --cluster and no QA_CLUSTER: the sharded folder is still opened as one (on "local",
    # which in this process is the cluster it is already connected to).
    default = runner.invoke(cli, ["search", query, "-k", "5", "--json", "--index-dir", str(sharded_dir)],
                            env={"QA_CLUSTER": ""})
    assert default.exit_code == 0, default.output
    assert json.loads(default.stdout) == json.loads(runner.invoke(
        cli, ["search", query, "-k", "5", "--json", "--index-dir", str(single.root)]).stdout)


def _kill(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)


def test_killed_shard_actor_is_restarted_and_the_next_query_is_right(single, sharded):
    query = "How many workers built the bridge?"
    before = sharded.pool.pids()
    victim = sorted(before)[0]
    _kill(before[victim])
    got = sharded.search(query, k=10, mode="hybrid")  # waits for the restart within the deadline
    assert sharded.missing_shards in ([], [victim])
    if not sharded.missing_shards:
        _assert_same(single.search(query, k=10, mode="hybrid"), got)
    after = sharded.pool.pids()
    assert set(after) == set(before) and after[victim] != before[victim]
    _assert_same(single.search(query, k=10, mode="hybrid"), sharded.search(query, k=10, mode="hybrid"))


def test_a_shard_past_the_deadline_makes_the_result_partial_and_named(single, sharded):
    from qa.cluster.manifest import shard_of

    query = "When was the lighthouse restored?"
    before = sharded.pool.pids()
    victim = sorted(before)[-1]
    deadline = sharded.pool.deadline
    sharded.pool.deadline = 0.05  # shorter than any actor restart (a new process loads the shard)
    try:
        _kill(before[victim])
        got = sharded.search(query, k=10, mode="dense")
    finally:
        sharded.pool.deadline = deadline
    reference = single.search(query, k=200, mode="dense")
    missing = sharded.missing_shards
    if missing:
        # The killed shard (and, on a loaded machine, any other that missed 50 ms): each named,
        # and every shard not named contributed exactly its part of the single index's ranking.
        assert sharded.partial() == {"partial": True, "missing_shards": missing}
        assert any("partial result" in n for n in sharded.notices)
        rest = [h for h in reference if f"{shard_of(h.path, SHARDS):03d}" not in missing][:10]
        assert [_key(h) for h in got] == [_key(h) for h in rest]
    else:  # the restart beat the deadline: then the result must be complete and right
        _assert_same(reference[:10], got)
    # Once the shard is back, results are whole again.
    for _ in range(3):
        full = sharded.search(query, k=10, mode="dense")
        if not sharded.missing_shards:
            break
    assert sharded.partial() == {}
    _assert_same(reference[:10], full)


def _build_task_pids() -> list[int]:
    """Workers running a build task: Ray titles a worker process ``ray::<task name>``."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                title = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if title.startswith(b"ray::build_shard"):
                pids.append(int(entry.name))
    return pids


def test_killed_build_task_is_retried_and_the_committed_index_is_complete(single, sharded_dir, ray_cluster, corpus):
    import qa

    index_dir = corpus.parent / "killed-build"
    shutil.copytree(sharded_dir, index_dir)
    killed: list[int] = []
    stop = threading.Event()

    def killer() -> None:
        while not stop.is_set() and not killed:
            for pid in _build_task_pids():
                _kill(pid)
                killed.append(pid)
                break
            time.sleep(0.01)

    thread = threading.Thread(target=killer)
    thread.start()
    try:
        report = qa.build_index(corpus, index_dir, cluster=ray_cluster, rebuild=True, encoder=ENCODER)
    finally:
        stop.set()
        thread.join()
    assert killed, "no build task was seen running"
    assert report.chunks == report.chunks_embedded == len(single)
    assert not list(index_dir.glob("shards/*/.tmp-*"))  # the killed attempt's leftovers are gone
    opened = qa.open_cluster(index_dir, ray_cluster)
    try:
        for mode in MODES:
            for query in QUERIES[::4]:
                _assert_same(single.search(query, k=10, mode=mode), opened.search(query, k=10, mode=mode))
    finally:
        opened.close()


def test_only_the_changed_files_shard_is_rebuilt(sharded_dir, ray_cluster, corpus, tmp_path):
    import qa
    from qa.cluster.manifest import read_manifest, shard_of

    edited_corpus = tmp_path / "corpus"
    shutil.copytree(corpus, edited_corpus)
    index_dir = tmp_path / "sharded"
    shutil.copytree(sharded_dir, index_dir)
    before = read_manifest(index_dir)
    unchanged = qa.build_index(edited_corpus, index_dir, cluster=ray_cluster)
    assert unchanged.up_to_date and unchanged.chunks_embedded == 0
    target = edited_corpus / "towns" / "town-001.md"
    target.write_text(target.read_text(encoding="utf-8") + "\nThe zeppelin hangar was demolished in 1931.\n",
                      encoding="utf-8")
    report = qa.build_index(edited_corpus, index_dir, cluster=ray_cluster)
    assert report.files_indexed == ("towns/town-001.md",)
    assert 0 < report.chunks_embedded <= 2
    after = read_manifest(index_dir)
    changed = {s for s, g in after["shards"]["generations"].items() if g != before["shards"]["generations"][s]}
    assert changed == {f"{shard_of('towns/town-001.md', SHARDS):03d}"}
    opened = qa.open_cluster(index_dir, ray_cluster)
    try:
        hits = opened.search("zeppelin hangar demolished", k=1, mode="lexical")
        assert hits and hits[0].path == "towns/town-001.md"
    finally:
        opened.close()


def test_open_index_serves_a_sharded_folder_like_a_single_one(single, sharded_dir, monkeypatch):
    import qa

    monkeypatch.delenv("QA_CLUSTER", raising=False)  # the default address: local (here: this connection)
    opened = qa.open_index(sharded_dir)
    try:
        assert isinstance(opened, qa.ClusterIndex)
        for mode in MODES:
            _assert_same(single.search(QUERIES[0], k=10, mode=mode), opened.search(QUERIES[0], k=10, mode=mode))
        got, expected = qa.ask(QUERIES[1], sharded_dir).to_dict(), qa.ask(QUERIES[1], single).to_dict()
        got["fingerprint"].pop("index"), expected["fingerprint"].pop("index")
        assert got == expected
    finally:
        opened.close()


def _qa(*args: str, env: dict[str, str] | None = None, **kwargs) -> subprocess.CompletedProcess:
    """The qa command in a fresh process (its own Ray driver), this checkout's src first."""
    src = str(Path(__file__).resolve().parents[2] / "src")
    return subprocess.run([sys.executable, "-c", "from qa.cli import main; main()", *args], capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": src, **(env or {})}, **kwargs)


def test_a_new_process_without_cluster_starts_a_local_ray_and_prints_the_same_json(single, sharded_dir):
    from click.testing import CliRunner

    from qa.cli import cli

    query = "When was the Pyongyang Declaration signed?"
    out = _qa("search", query, "-k", "5", "--json", "--index-dir", str(sharded_dir), env={"QA_CLUSTER": ""})
    assert out.returncode == 0, out.stderr
    expected = CliRunner().invoke(cli, ["search", query, "-k", "5", "--json", "--index-dir", str(single.root)])
    assert json.loads(out.stdout) == json.loads(expected.stdout)


async def test_chat_answers_from_a_sharded_index(single, corpus, sharded_dir, ray_cluster, tmp_path):
    from textual.widgets import Static

    from qa.config import Settings
    from qa.tui.app import QAApp
    from qa.tui.widgets import QuestionInput, SourceItem, Turn

    question = "When was the Pyongyang Declaration signed?"
    expected = single.answer(question)
    app = QAApp(Settings(corpus=corpus, index_dir=sharded_dir, cluster=ray_cluster), export_dir=tmp_path,
                cursor_blink=False)
    async with app.run_test(size=(120, 36)) as pilot:
        for _ in range(2):
            await pilot.app.workers.wait_for_complete()
            await pilot.pause()
        assert app.failure is None and app.index is not None and len(app.index) == len(single)
        pilot.app.query_one(QuestionInput).focus()
        pilot.app.query_one(QuestionInput).insert(question)
        await pilot.press("enter")
        for _ in range(2):
            await pilot.app.workers.wait_for_complete()
            await pilot.pause()
        turn = list(app.query(Turn))[-1]
        assert turn.answer is not None and turn.answer.grounded
        assert turn.answer.text == expected.text and turn.answer.citations == expected.citations
        assert "20 April 1992" in str(turn.query_one(".answer", Static).render())
        assert [s.source.path for s in app.query(SourceItem)][:1] == [expected.citations[0].path]
    app.index.close()


def _served(sharded_dir: Path) -> dict[str, object]:
    from ray.util import list_named_actors

    from qa.cluster.serve import NAMESPACE, actor_prefix

    prefix = actor_prefix(sharded_dir)
    return {e["name"]: ray.get_actor(e["name"], namespace=NAMESPACE)
            for e in list_named_actors(all_namespaces=True)
            if e["namespace"] == NAMESPACE and e["name"].startswith(prefix)}


def test_serve_leaves_shard_actors_that_later_processes_use_and_stop_removes_them(single, sharded_dir, ray_cluster):
    from click.testing import CliRunner

    from qa.cli import cli
    from qa.cluster.manifest import read_manifest
    from qa.cluster.serve import actor_prefix

    runner = CliRunner()
    refused = runner.invoke(cli, ["serve", "--cluster", "local", "--index-dir", str(sharded_dir)])
    assert refused.exit_code == 1 and "ray start --head" in refused.output
    started = runner.invoke(cli, ["serve", "--cluster", ray_cluster, "--index-dir", str(sharded_dir)])
    assert started.exit_code == 0, started.output
    try:
        manifest = read_manifest(sharded_dir)
        shards = manifest["shards"]
        populated = {s for s, g in shards["generations"].items() if g and shards.get("chunks", {}).get(s, 1)}
        actors = _served(sharded_dir)
        prefix = actor_prefix(sharded_dir)  # then <shard>-<generation>
        assert {name[len(prefix):].split("-", 1)[0] for name in actors} == populated
        pids = {name: ray.get(a.pid.remote()) for name, a in actors.items()}
        assert all(ray.get(a.served.remote()) == 0 for a in actors.values())
        # A later process (its own Ray driver) answers with the served actors, loading no shard itself.
        query = "When was the Pyongyang Declaration signed?"
        out = _qa("ask", query, "--json", "--index-dir", str(sharded_dir), "--cluster", ray_cluster)
        assert out.returncode == 0, out.stderr
        got = json.loads(out.stdout)
        expected = single.answer(query).to_dict()
        got["fingerprint"].pop("index"), expected["fingerprint"].pop("index")
        assert got == expected
        after = _served(sharded_dir)
        assert set(after) == set(actors)
        assert {name: ray.get(a.pid.remote()) for name, a in after.items()} == pids
        assert all(ray.get(a.served.remote()) >= 1 for a in after.values())  # each took that query
        again = runner.invoke(cli, ["serve", "--cluster", ray_cluster, "--index-dir", str(sharded_dir)])
        assert again.exit_code == 0 and set(_served(sharded_dir)) == set(actors)  # reused, not doubled
    finally:
        stopped = runner.invoke(cli, ["serve", "--stop", "--cluster", ray_cluster, "--index-dir", str(sharded_dir)])
    assert stopped.exit_code == 0, stopped.output
    assert f"Stopped {len(actors)} shard actor(s)" in stopped.output
    assert _served(sharded_dir) == {}


def test_verify_checks_a_sharded_answer_without_ray(sharded, sharded_dir, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from qa.cli import cli

    answer = sharded.answer("When was the Pyongyang Declaration signed?").to_dict()
    assert answer["citations"]
    saved = tmp_path / "answer.json"
    saved.write_text(json.dumps(answer), encoding="utf-8")
    tampered = tmp_path / "tampered.json"
    answer["citations"][0]["quote"] = "not what the file says"
    tampered.write_text(json.dumps(answer), encoding="utf-8")
    monkeypatch.setitem(sys.modules, "ray", None)  # verifying must not need Ray (nor start actors)
    runner = CliRunner()
    ok = runner.invoke(cli, ["verify", str(saved), "--index-dir", str(sharded_dir)])
    assert ok.exit_code == 0, ok.output
    assert f"Corpus: {sharded.corpus}" in ok.output and "note:" not in ok.output
    assert "quote(s) current." in ok.output
    stale = runner.invoke(cli, ["verify", str(tampered), "--index-dir", str(sharded_dir)])
    assert stale.exit_code == 1 and "STALE" in stale.output


def test_losing_a_worker_node_restarts_its_shards_elsewhere(single, sharded, loopback):
    """Last in the module: it takes a node away from the shared cluster."""
    query = "Which harbour was flooded?"
    before = sharded.pool.pids()
    hosts, _ = sharded.pool.call("node", {name: () for name in sharded.pool.actors})
    serving = [n for n in loopback.worker_nodes if n.node_id in set(hosts.values())]
    assert serving, f"no shard actor on a worker node: {hosts}"
    node = serving[0]
    loopback.remove_node(node, allow_graceful=False)
    got = sharded.search(query, k=10, mode="hybrid")
    if sharded.missing_shards:
        assert set(sharded.missing_shards) <= set(before)
        got = sharded.search(query, k=10, mode="hybrid")
    assert sharded.missing_shards == []
    _assert_same(single.search(query, k=10, mode="hybrid"), got)
    # Whether Ray restarted the actors is not asserted: on a loopback cluster the worker
    # processes of a removed node can outlive its raylet for a while and keep answering (seen
    # in 2 of 4 runs), so a changed pid is not a reliable signal. What the user sees is: the
    # answers after losing a serving node are exactly the single index's, or marked partial.


def test_default_install_does_not_import_ray():
    code = "import sys, qa, qa.cli, qa.api; qa.cli.cli(['--help'], standalone_mode=False); print('ray' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "src")})
    assert out.stdout.strip().splitlines()[-1] == "False"
