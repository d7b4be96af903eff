"""The command line: each command parses, calls ``qa.api``, prints. Library errors become a
one-line message and exit code 1; usage errors exit 2. Heavy imports happen inside commands so
``qa --help`` is instant."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from qa.config import ENCODERS, INDEX_ENCODERS, MODES, Settings, resolve
from qa.errors import IndexMissingError, QAError
from qa.safety import printable, safe_json

if TYPE_CHECKING:
    from qa.api import Index
    from qa.indexing import IndexReport
    from qa.types import Answer, Hit

index_dir_option = click.option("--index-dir", type=click.Path(path_type=Path), default=None,
                                help="Index directory (default: embeddings/, or QA_INDEX_DIR).")
mode_option = click.option("--mode", type=click.Choice(MODES), default=None,
                           help="Retrieval: hybrid (default), dense or lexical.")
k_option = click.option("-k", "k", type=click.IntRange(1, 1000), default=None,
                        help="Number of passages (default 5).")
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")
encoder_option = click.option("--encoder", type=click.Choice(ENCODERS), default=None,
                              help="Query encoder: auto (ONNX when verified), onnx or torch.")
# --- cluster (qa[cluster], see qa.cluster) ---
cluster_option = click.option("--cluster", default=None, metavar="ADDRESS",
                              help="Sharded index on a Ray cluster: local, auto, host:port or "
                                   "ray://host:10001 (default: QA_CLUSTER). Needs qa[cluster].")


def _partial(index: Index) -> dict[str, Any]:
    """JSON fields marking a result some shards did not contribute to (none when complete)."""
    partial = getattr(index, "partial", None)
    return partial() if partial else {}
# --- end cluster ---


def _fail(exc: QAError) -> click.ClickException:
    return click.ClickException(printable(str(exc)))


class _RichProgress:
    """Index progress on stderr: a bar for stages that know their size."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self._progress = Progress(TextColumn("{task.description:<40}"), BarColumn(),
                                  MofNCompleteColumn(), TimeElapsedColumn(),
                                  console=Console(stderr=True), transient=False)
        self._task: Any = None

    def __enter__(self) -> _RichProgress:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._finish_stage()
        self._progress.stop()

    def _finish_stage(self) -> None:
        if self._task is not None:
            total = self._progress.tasks[-1].total or 1
            self._progress.update(self._task, completed=total, total=total)

    def stage(self, name: str, total: int | None = None) -> None:
        self._finish_stage()
        self._task = self._progress.add_task(name, total=total)

    def advance(self, n: int = 1) -> None:
        if self._task is not None:
            self._progress.advance(self._task, n)


def _print_report(report: IndexReport) -> None:
    echo = lambda line="": click.echo(printable(line), err=True)  # noqa: E731
    for notice in report.notices:
        echo(f"note: {notice}")
    for path, warning in report.warnings:
        echo(f"warning: {path}: {warning}")
    if report.up_to_date:
        echo(f"Index is up to date: {len(report.files_reused)} files, {report.chunks} chunks, "
             f"nothing embedded ({report.seconds:.1f} s). [{report.index_dir}/{report.generation}]")
    else:
        echo(f"Indexed {len(report.files_indexed)} file(s), reused {len(report.files_reused)}, "
             f"removed {len(report.files_removed)}, skipped {len(report.skipped)}.")
        embedded_with = f" with {report.encoder}" if report.chunks_embedded else ""
        echo(f"{report.chunks} chunks: {report.chunks_embedded} embedded{embedded_with}, {report.chunks_reused} reused "
             f"in {report.seconds:.1f} s. [{report.index_dir}/{report.generation}]")
    for path, reason in report.skipped:
        echo(f"skipped: {path}: {reason}")


def _build(settings: Settings, rebuild: bool = False, encoder: str = "auto",
           cluster: str | None = None, shards: int | None = None) -> IndexReport:
    from qa import api

    with _RichProgress() as progress:
        report = api.build_index(settings.corpus, settings.index_dir, rebuild=rebuild,
                                 progress=progress, encoder=encoder, cluster=cluster, shards=shards)
    _print_report(report)
    return report


def _open(settings: Settings, build_if_missing: bool = True, cluster: str | None = None) -> Index:
    """Open the index; on first use (no index yet) build it from the corpus, saying so."""
    from qa import api

    try:
        return api.open_index(settings.index_dir, encoder=settings.encoder, cluster=cluster)
    except IndexMissingError:
        if not build_if_missing or not settings.corpus.is_dir():
            raise
        click.echo(f"No index in {settings.index_dir} yet: building it from {settings.corpus}/ (first run).", err=True)
        _build(settings, cluster=cluster)
        return api.open_index(settings.index_dir, encoder=settings.encoder, cluster=cluster)


def _notices(index: Index) -> None:
    for notice in index.notices:
        click.echo(f"note: {printable(notice)}", err=True)
    index.notices.clear()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="qa")
def cli() -> None:
    """qa: ask questions about a folder of documents; every answer cites its sources.

    Runs offline. Build the index with `qa index`, then `qa ask "question"` or `qa chat`.
    Defaults come from QA_CORPUS, QA_INDEX_DIR, QA_MODE, QA_K, QA_ENCODER or a qa.toml file.
    """


@cli.command()
@click.argument("corpus", required=False, type=click.Path(path_type=Path))
@index_dir_option
@click.option("--rebuild", is_flag=True, help="Re-embed everything instead of updating.")
@click.option("--encoder", type=click.Choice(INDEX_ENCODERS), default="auto", show_default=True,
              help="Encoder for embedding chunks: auto (OpenVINO if installed, else torch), openvino or "
                   "onnx (the verified ONNX export; faster), torch (sentence-transformers).")
@cluster_option
@click.option("--shards", type=click.IntRange(1, 4096), default=None,
              help="With --cluster: number of shards (default: as committed, or 2).")
def index(corpus: Path | None, index_dir: Path | None, rebuild: bool, encoder: str,
          cluster: str | None, shards: int | None) -> None:
    """Index CORPUS (default: corpus/) into the index directory, re-embedding only changes."""
    try:
        if shards is not None and not cluster:
            raise click.UsageError("--shards needs --cluster")
        _build(resolve(corpus=corpus, index_dir=index_dir), rebuild=rebuild, encoder=encoder,
               cluster=cluster, shards=shards)
    except QAError as exc:
        raise _fail(exc) from exc


def _hit_lines(hit: Hit) -> list[str]:
    page = f" (page {hit.page})" if hit.page else ""
    head = f"{hit.rank}. {hit.location}{page}  {hit.title}  score {hit.score:.3f}"
    body = " ".join(hit.text.split())
    return [head, "   " + (body[:400] + ("…" if len(body) > 400 else ""))]


@cli.command()
@click.argument("query")
@index_dir_option
@k_option
@mode_option
@json_option
@encoder_option
@cluster_option
def search(query: str, index_dir: Path | None, k: int | None, mode: str | None, as_json: bool,
           encoder: str | None, cluster: str | None) -> None:
    """Print the passages most relevant to QUERY with path:lines, title and score."""
    try:
        settings = resolve(index_dir=index_dir, k=k, mode=mode, encoder=encoder)
        opened = _open(settings, cluster=cluster)
        hits = opened.search(query, k=settings.k, mode=settings.mode)
    except QAError as exc:
        raise _fail(exc) from exc
    _notices(opened)
    if as_json:
        click.echo(safe_json({"query": query, "mode": settings.mode, "hits": [h.to_dict() for h in hits],
                              **_partial(opened)}))
        return
    if not hits:
        click.echo("No passages found.")
    for hit in hits:
        for line in _hit_lines(hit):
            click.echo(printable(line))


def _print_answer(answer: Answer) -> None:
    if answer.assumption:
        click.echo(printable(f"({answer.assumption})"))
    click.echo(printable(answer.text))
    click.echo()
    if answer.grounded:
        for c in answer.citations:
            page = f" (page {c.page})" if c.page else ""
            click.echo(printable(f"[{c.n}] {c.location}{page}  {c.title}"))
            click.echo(printable(f"    \u201c{c.quote}\u201d"))
    else:
        click.echo("Closest matches (not answers):")
        for hit in answer.passages:
            for line in _hit_lines(hit):
                click.echo(printable(line))


@cli.command()
@click.argument("question", required=False)
@index_dir_option
@k_option
@mode_option
@json_option
@encoder_option
@cluster_option
def ask(question: str | None, index_dir: Path | None, k: int | None, mode: str | None,
        as_json: bool, encoder: str | None, cluster: str | None) -> None:
    """Answer QUESTION with cited sentences, or say the documents don't.

    Without QUESTION, reads one question per line from standard input.
    """
    from qa.api import Conversation

    try:
        settings = resolve(index_dir=index_dir, k=k, mode=mode, encoder=encoder)
        questions = [question] if question is not None else [q for q in sys.stdin.read().splitlines() if q.strip()]
        if not questions:
            raise click.UsageError("give a QUESTION or pipe questions on standard input")
        opened = _open(settings, cluster=cluster)
        conversation = Conversation(opened, k=settings.k, mode=settings.mode)
        for i, q in enumerate(questions):
            answer = conversation.ask(q)
            _notices(opened)
            if as_json:
                click.echo(safe_json({**answer.to_dict(), **_partial(opened)}))
            else:
                if len(questions) > 1:
                    click.echo(("\n" if i else "") + printable(f"Q: {q}"))
                _print_answer(answer)
    except QAError as exc:
        raise _fail(exc) from exc


@cli.command()
@click.option("--corpus", type=click.Path(path_type=Path), default=None,
              help="Corpus folder to index on first run (default: corpus/).")
@index_dir_option
@k_option
@mode_option
@encoder_option
@cluster_option
def chat(corpus: Path | None, index_dir: Path | None, k: int | None, mode: str | None,
         encoder: str | None, cluster: str | None) -> None:
    """Open the chat: answers on the left, their sources on the right (F1 for keys).

    Builds the index first (with a progress bar) when there is none or the corpus changed.
    """
    try:
        settings = resolve(corpus=corpus, index_dir=index_dir, k=k, mode=mode, encoder=encoder)
    except QAError as exc:
        raise _fail(exc) from exc
    from qa.tui.app import QAApp

    if cluster:  # the TUI opens (and rebuilds) the index through the API, which reads QA_CLUSTER
        import os

        os.environ["QA_CLUSTER"] = cluster
    QAApp(settings).run()


@cli.command("eval-questions")
@click.argument("file", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@index_dir_option
@k_option
@mode_option
@json_option
@click.option("--verbose", "-v", is_flag=True, help="List every question that missed.")
def eval_questions(file: Path, index_dir: Path | None, k: int | None, mode: str | None,
                   as_json: bool, verbose: bool) -> None:
    """Score answers on a JSON-lines question set (question, answerable, expected, evidence)."""
    from qa.evaluation import evaluate_questions, read_questions

    try:
        settings = resolve(index_dir=index_dir, k=k, mode=mode)
        records = read_questions(file)
        opened = _open(settings)
        report = evaluate_questions(lambda q: opened.answer(q, k=settings.k, mode=settings.mode), records)
    except QAError as exc:
        raise _fail(exc) from exc
    metrics = report.metrics()
    if as_json:
        click.echo(safe_json({"metrics": metrics, "results": [r.__dict__ for r in report.results]}))
        return
    click.echo(f"{metrics['answerable']} answerable, {metrics['unanswerable']} unanswerable questions")
    click.echo(f"answer contains expected      {metrics['answer_contains_expected']:.1%}")
    click.echo(f"first citation is evidence    {metrics['first_citation_is_evidence']:.1%}")
    click.echo(f"refused when unanswerable     {metrics['refusal_rate_unanswerable']:.1%}")
    click.echo(f"false refusals (answerable)   {metrics['false_refusal_rate']:.1%}")
    yes = sorted(r.confidence for r in report.results if r.answerable)
    no = sorted(r.confidence for r in report.results if not r.answerable)
    if yes and no:
        click.echo(f"confidence: answerable min {yes[0]:.3f}, unanswerable max {no[-1]:.3f}")
    if verbose:
        for r in report.results:
            if r.answerable != r.grounded or (r.answerable and not (r.contains_expected and r.evidence_first)):
                click.echo(printable(f"- {r.id} ({r.confidence:.3f}) {r.question}\n    {r.answer[:200]}"))


def _eval_cache(dataset: Path) -> Path:
    import hashlib
    import os

    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "qa" / "eval"
    tag = hashlib.sha256(str(dataset.resolve()).encode()).hexdigest()[:10]
    return base / f"{dataset.resolve().name}-{tag}"


@cli.command("eval")
@click.argument("dataset", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option("--split", default="test", show_default=True, help="qrels/<split>.tsv to score.")
@click.option("--index-dir", type=click.Path(path_type=Path), default=None,
              help="Where to build/reuse the dataset's index (default: ~/.cache/qa/eval/...).")
@click.option("--mode", "modes", type=click.Choice(MODES), multiple=True,
              help="Retrieval mode(s) to score (default: all three).")
@click.option("--limit", type=int, default=None, help="Score only the first N queries.")
@encoder_option
@json_option
def eval_beir(dataset: Path, split: str, index_dir: Path | None, modes: tuple[str, ...],
              limit: int | None, encoder: str | None, as_json: bool) -> None:
    """Retrieval quality on a BEIR dataset: nDCG@10, Recall@10/100, MRR@10 per mode.

    Each BEIR document (title + text) goes through the normal pipeline; the index is built
    once and reused. Document score = best chunk score.
    """
    import time

    from qa import api
    from qa.evaluation import BeirReport, evaluate_beir, materialize_beir_corpus, read_beir

    try:
        started = time.perf_counter()
        queries, qrels = read_beir(dataset, split)
        if limit:
            queries = dict(list(queries.items())[:limit])
        cache = index_dir or _eval_cache(dataset)
        corpus = cache / "corpus"
        click.echo(f"Preparing {dataset.name}: documents -> {corpus}", err=True)
        documents = materialize_beir_corpus(dataset, corpus)
        settings = resolve(corpus=corpus, index_dir=cache / "index", encoder=encoder)
        _build(settings)
        index = api.open_index(settings.index_dir, encoder=settings.encoder)
        with _RichProgress() as progress:
            progress.stage(f"scoring {len(queries)} queries", len(queries))
            metrics = evaluate_beir(index, queries, qrels, modes or ("dense", "lexical", "hybrid"),
                                    progress=progress.advance)
        _notices(index)
    except QAError as exc:
        raise _fail(exc) from exc
    report = BeirReport(dataset.name, split, len(queries), documents, len(index), metrics,
                        time.perf_counter() - started)
    if as_json:
        click.echo(safe_json(report.to_dict()))
        return
    click.echo(f"{dataset.name} ({split}): {report.queries} queries, {documents} documents, {report.chunks} chunks")
    click.echo(f"{'mode':<10}{'nDCG@10':>10}{'R@10':>10}{'R@100':>10}{'MRR@10':>10}")
    for mode, m in metrics.items():
        click.echo(f"{mode:<10}{m['ndcg@10']:>10.4f}{m['recall@10']:>10.4f}{m['recall@100']:>10.4f}{m['mrr@10']:>10.4f}")


def main() -> None:
    cli()
