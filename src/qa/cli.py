"""The command line: each command parses, calls the public API (``qa``), prints. Library errors become a
one-line message and exit code 1; usage errors exit 2. Heavy imports happen inside commands so
``qa --help`` is instant."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

import qa
from qa import (
    INDEX_ENCODERS,
    MODES,
    QUERY_ENCODERS,
    QAError,
    QuestionError,
    Settings,
    resolve_settings,
)
from qa.console import RichProgress, run_watch
from qa.safety import printable, printable_line, safe_json

if TYPE_CHECKING:
    from qa import Answer, Hit, Index, IndexReport

index_dir_option = click.option("--index-dir", type=click.Path(path_type=Path), default=None,
                                help="Index directory (default: QA_INDEX_DIR, else embeddings/ for ./corpus, "
                                     "else the corpus's own folder in ~/.cache/qa/indexes/).")
corpus_option = click.option("--corpus", type=click.Path(path_type=Path), default=None,
                             help="Corpus folder (default: corpus/, or QA_CORPUS); it gets its own index.")
mode_option = click.option("--mode", type=click.Choice(MODES), default=None,
                           help="Retrieval: hybrid (default), dense or lexical.")
k_option = click.option("-k", "k", type=click.IntRange(1, 1000), default=None,
                        help="Number of passages (default 5).")
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")
encoder_option = click.option("--encoder", type=click.Choice(QUERY_ENCODERS), default=None,
                              help="Query encoder: auto (ONNX when verified), onnx or torch.")
cluster_option = click.option("--cluster", default=None, metavar="ADDRESS", envvar="QA_CLUSTER",
                              help="Ray cluster of a sharded index: local, auto, host:port or ray://host:10001 (default: QA_CLUSTER, else local for a sharded index). Needs qa[cluster].")


def _fail(exc: QAError) -> click.ClickException:
    return click.ClickException(printable(str(exc)))


def _print_report(report: IndexReport) -> None:
    for line in report.lines():
        click.echo(printable_line(line), err=True)


def _build(settings: Settings, rebuild: bool = False, encoder: str = "auto", **sharding: Any) -> IndexReport:
    with RichProgress() as progress:
        report = qa.build_index(settings.corpus, settings.index_dir, rebuild=rebuild,
                                progress=progress, encoder=encoder, **sharding)
    _print_report(report)
    return report


def _open(settings: Settings) -> Index:
    """Open the index (single or sharded, served on ``settings.cluster``); on first use build it, saying so."""
    def announce(reason: str) -> None:
        click.echo(printable(reason[:1].upper() + reason[1:] + "."), err=True)

    with RichProgress() as progress:
        index = qa.open_or_build(settings.asked_corpus, settings.index_dir, encoder=settings.encoder,
                                 update=False, progress=progress, announce=announce, cluster=settings.cluster)
    if index.built is not None:
        _print_report(index.built)
    return index


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
        _build(resolve_settings(corpus=corpus, index_dir=index_dir), rebuild=rebuild, encoder=encoder,
               cluster=cluster, shards=shards)
    except QAError as exc:
        raise _fail(exc) from exc


def _hit_lines(hit: Hit) -> list[str]:
    page = f" (page {hit.page})" if hit.page else ""
    head = f"{hit.rank}. {printable_line(hit.location)}{page}  {printable_line(hit.title)}  score {hit.score:.3f}"
    body = " ".join(hit.text.split())
    return [head, "   " + (body[:400] + ("…" if len(body) > 400 else ""))]


@cli.command()
@click.argument("query")
@corpus_option
@index_dir_option
@k_option
@mode_option
@json_option
@encoder_option
@cluster_option
def search(query: str, corpus: Path | None, index_dir: Path | None, k: int | None, mode: str | None,
           as_json: bool, encoder: str | None, cluster: str | None) -> None:
    """Print the passages most relevant to QUERY with path:lines, title and score."""
    try:
        settings = resolve_settings(corpus=corpus, index_dir=index_dir, k=k, mode=mode, encoder=encoder, cluster=cluster)
        opened = _open(settings)
        hits = opened.search(query, k=settings.k, mode=settings.mode)
    except QAError as exc:
        raise _fail(exc) from exc
    _notices(opened)
    if as_json:
        click.echo(safe_json({"query": query, "mode": settings.mode, "hits": [h.to_dict() for h in hits],
                              **getattr(opened, "partial", dict)()}))
        return
    if not hits:
        click.echo("No passages found.")
    for hit in hits:
        for line in _hit_lines(hit):
            click.echo(printable(line))


def _print_answer(answer: Answer) -> None:
    if answer.assumption:
        click.echo(printable(f"({answer.assumption})"))
    if answer.answer_span is not None:
        # The short answer words lead the answer (see answering._short_answer): shown in bold.
        head, _, rest = answer.text.partition(" \u2014 ")
        click.echo(click.style(printable(head), bold=True) + " \u2014 " + printable(rest))
    else:
        click.echo(printable(answer.text))
    for conflict in answer.conflicts:
        click.echo(click.style(printable(conflict.warning()), fg="yellow", bold=True))
    click.echo()
    if answer.grounded:
        for c in answer.citations:
            page = f" (page {c.page})" if c.page else ""
            click.echo(printable_line(f"[{c.n}] {c.location}{page}  {c.title}"))
            click.echo(printable(f"    \u201c{c.text}\u201d"))
    else:
        click.echo("Closest matches (not answers):")
        for hit in answer.passages:
            for line in _hit_lines(hit):
                click.echo(printable(line))


@cli.command()
@click.argument("question", required=False)
@corpus_option
@index_dir_option
@k_option
@mode_option
@json_option
@encoder_option
@click.option("--explain", is_flag=True, help="Show why: passage scores, candidate sentences, the decision.")
@cluster_option
def ask(question: str | None, corpus: Path | None, index_dir: Path | None, k: int | None, mode: str | None,
        as_json: bool, encoder: str | None, explain: bool, cluster: str | None) -> None:
    """Answer QUESTION with cited sentences, or say the documents don't.

    Without QUESTION, reads one question per line from standard input. The JSON is the same,
    byte for byte, for the same question on the same index; `qa verify` re-checks it later.
    """
    try:
        settings = resolve_settings(corpus=corpus, index_dir=index_dir, k=k, mode=mode, encoder=encoder, cluster=cluster)
        questions = [question] if question is not None else [q for q in _stdin_text().splitlines() if q.strip()]
        if not any(q.strip() for q in questions):  # `qa ask ""` is bad usage, like no question
            raise click.UsageError("give a QUESTION (not empty) or pipe questions on standard input")
        for q in questions:  # before the index is opened: a bad question is the error to report
            qa.check_question(q)
        opened = _open(settings)
        conversation = qa.Conversation(opened, k=settings.k, mode=settings.mode)
        for i, q in enumerate(questions):
            answer = conversation.ask(q)
            _notices(opened)
            if as_json:
                click.echo(safe_json({**answer.to_dict(explain=explain), **getattr(opened, "partial", dict)()}))
            else:
                if len(questions) > 1:
                    click.echo(("\n" if i else "") + printable(f"Q: {q}"))
                _print_answer(answer)
                if explain and answer.explain is not None:
                    click.echo()
                    for line in answer.explain.lines():
                        click.echo(printable(line))
    except QAError as exc:
        raise _fail(exc) from exc


def _stdin_text() -> str:
    """Standard input as UTF-8 text: closed stdin is a usage error, other bytes a QuestionError
    (never a UnicodeDecodeError traceback)."""
    stream = sys.stdin
    if stream is None or stream.closed:
        raise click.UsageError("standard input is closed: give a QUESTION or pipe questions in")
    try:
        data = stream.buffer.read() if hasattr(stream, "buffer") else stream.read().encode("utf-8", "surrogateescape")
    except (OSError, ValueError) as exc:
        raise click.UsageError(f"cannot read standard input ({exc}): give a QUESTION") from exc
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise QuestionError(f"standard input is not UTF-8 text (byte {exc.start}): "
                            "convert it, e.g. with iconv -t UTF-8") from exc


@cli.command()
@click.argument("answer_file", metavar="ANSWER.json", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--index-dir", type=click.Path(path_type=Path), default=None,
              help="Check against this index's corpus, single or sharded (default: the corpus the answer names).")
def verify(answer_file: Path, index_dir: Path | None) -> None:
    """Re-check a saved `qa ask --json` answer: is every quote still at its offsets in the files?

    Exits 0 when every quote is current, 1 when any is stale.
    """
    import qa

    try:
        data = qa.read_answer(answer_file)
        index = None
        if index_dir is not None or not isinstance(data.get("corpus"), str):
            index = resolve_settings(index_dir=index_dir).index_dir  # a sharded one is read without Ray
        result = qa.verify_answer(data, index)
    except QAError as exc:
        raise _fail(exc) from exc
    for line in result.lines():
        click.echo(printable(line))
    stale = result.stale
    if stale:
        click.echo(printable(f"{len(stale)} of {len(result.quotes)} quote(s) stale: {', '.join(q.label for q in stale)}"))
        sys.exit(1)
    click.echo(f"All {len(result.quotes)} quote(s) current.")


@cli.command()
@click.argument("corpus", required=False, type=click.Path(path_type=Path))
@index_dir_option
def watch(corpus: Path | None, index_dir: Path | None) -> None:
    """Keep the index of CORPUS (default: corpus/) up to date as its files change (Ctrl+C stops)."""
    try:
        settings = resolve_settings(corpus=corpus, index_dir=index_dir)
        _build(settings)  # catch up first: changes made while nothing was watching
        run_watch(qa.Watcher(settings.corpus, settings.index_dir), click.echo)
    except QAError as exc:
        raise _fail(exc) from exc


@cli.command()
@corpus_option
@index_dir_option
@k_option
@mode_option
@encoder_option
@cluster_option
@click.option("--watch", is_flag=True, help="Re-index changed, added and deleted files in the background.")
def chat(corpus: Path | None, index_dir: Path | None, k: int | None, mode: str | None,
         encoder: str | None, cluster: str | None, watch: bool) -> None:
    """Open the chat: answers on the left, their sources on the right (F1 for keys).

    Builds the index first (with a progress bar) when there is none or the corpus changed.
    """
    try:
        settings = resolve_settings(corpus=corpus, index_dir=index_dir, k=k, mode=mode, encoder=encoder,
                                    cluster=cluster)
    except QAError as exc:
        raise _fail(exc) from exc
    from qa.tui.app import QAApp

    app = QAApp(settings, watch=watch)
    app.run()
    if app.failure:  # the chat showed it; the exit code must say it too
        raise click.ClickException(printable(app.failure))
    if app.return_code:
        sys.exit(app.return_code)


@cli.command()
@index_dir_option
@click.option("--cluster", required=True, metavar="ADDRESS", envvar="QA_CLUSTER",
              help="The running Ray cluster: auto, host:port or ray://host:10001 (default: QA_CLUSTER).")
@click.option("--stop", is_flag=True, help="Remove the shard actors instead.")
def serve(index_dir: Path | None, cluster: str, stop: bool) -> None:
    """Keep a sharded index's shard actors running on the cluster, so that later `qa ask`,
    `qa search` and `qa chat --cluster` use them instead of loading the shards again.

    Returns once every shard is loaded; the actors stay until `qa serve --stop`.
    """
    try:
        root = resolve_settings(index_dir=index_dir).index_dir
        if stop:
            names = qa.stop_serving(root, cluster)
            click.echo(printable(f"Stopped {len(names)} shard actor(s) of {root}."))
            return
        pids = qa.serve_index(root, cluster)
    except QAError as exc:
        raise _fail(exc) from exc
    click.echo(printable(f"Serving {root}: {len(pids)} shard actor(s) on {cluster} "
                         f"(shards {', '.join(sorted(pids))}). Stop them with `qa serve --stop`."))


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
    try:
        settings = resolve_settings(index_dir=index_dir, k=k, mode=mode)
        records = qa.read_questions(file)
        opened = _open(settings)
        report = qa.evaluate_questions(lambda q: opened.answer(q, k=settings.k, mode=settings.mode), records)
    except QAError as exc:
        raise _fail(exc) from exc
    metrics = report.metrics()
    if as_json:
        click.echo(safe_json({"metrics": metrics, "results": [r.__dict__ for r in report.results]}))
        return
    for line in report.summary_lines():
        click.echo(line)
    if verbose:
        for r in report.results:
            if r.answerable != r.grounded or (r.answerable and not (r.contains_expected and r.evidence_first)):
                click.echo(printable(f"- {r.id} ({r.confidence:.3f}) {r.question}\n    {r.answer[:200]}"))


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

    try:
        started = time.perf_counter()
        queries, qrels = qa.read_beir(dataset, split)
        if limit:
            queries = dict(list(queries.items())[:limit])
        cache = index_dir or qa.eval_cache_dir(dataset)
        corpus = cache / "corpus"
        click.echo(f"Preparing {dataset.name}: documents -> {corpus}", err=True)
        documents = qa.materialize_beir_corpus(dataset, corpus)
        settings = resolve_settings(corpus=corpus, index_dir=cache / "index", encoder=encoder)
        _build(settings)
        index = qa.open_index(settings.index_dir, encoder=settings.encoder)
        with RichProgress() as progress:
            progress.stage(f"scoring {len(queries)} queries", len(queries))
            metrics = qa.evaluate_beir(index, queries, qrels, modes or ("dense", "lexical", "hybrid"),
                                       progress=progress.advance)
        _notices(index)
    except QAError as exc:
        raise _fail(exc) from exc
    report = qa.BeirReport(dataset.name, split, len(queries), documents, len(index), metrics,
                        time.perf_counter() - started)
    if as_json:
        click.echo(safe_json(report.to_dict()))
        return
    for line in report.lines():
        click.echo(line)


def main() -> None:
    cli()
