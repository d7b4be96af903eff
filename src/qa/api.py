"""The Python API: the one place that wires the steps together and the only policy layer. The
CLI, the TUI and the benchmarks call only this (through ``qa``), ``qa.types`` and ``qa.errors``,
plus ``qa.config`` for settings and ``qa.safety`` for showing untrusted text."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from qa import loading, store
from qa.answering import decide, key_terms
from qa.config import ENCODERS, check_encoder, check_k, check_mode
from qa.embedding import Encoder, OnnxEncoder, OpenVinoEncoder, TorchEncoder, model_spec
from qa.encoder_policy import export_path, query_encoder
from qa.errors import ConfigError, CorpusError, IndexMissingError, QAError, QuestionError
from qa.indexing import IndexProgress, IndexReport
from qa.indexing import build_index as _build_index
from qa.retrieval import Retriever
from qa.safety import markdown_literal
from qa.types import Answer, Document, Fingerprint, Hit, Manifest

if TYPE_CHECKING:
    from typing import Any

    from qa.audit import Verification
    from qa.models.reader import Reader

MAX_QUESTION_CHARS = 4000


def build_index(corpus_dir: str | Path = "corpus", index_dir: str | Path = "embeddings", *,
                rebuild: bool = False, progress: IndexProgress | None = None,
                encoder: str | Encoder = "auto", export: bool = True, cluster: str | None = None,
                shards: int | None = None) -> IndexReport:
    """Index ``corpus_dir`` into ``index_dir`` incrementally and return what was done.

    Args:
        encoder: "auto", "openvino", "onnx" or "torch" (see README "Performance"), or an object
            with ``kind``, ``spec`` and ``encode(texts, progress=None)`` returning normalised
            float32 vectors (benchmarks and tests use a stand-in this way).
        cluster: a Ray address, ``auto`` or ``local`` (default ``$QA_CLUSTER``): shard the index
            into ``shards`` parts built by Ray tasks (needs ``qa[cluster]``, see qa.cluster).

    Example:
        >>> report = qa.build_index("corpus", "embeddings")
        >>> report.chunks, report.chunks_embedded
    """
    cluster = _cluster_address(index_dir, cluster)
    if cluster:
        from qa.cluster.build import build_sharded

        if not isinstance(encoder, str):
            raise ConfigError("a sharded index is built by Ray tasks: give the encoder by name")

        return build_sharded(Path(corpus_dir), Path(index_dir), cluster=cluster, shards=shards,
                             rebuild=rebuild, encoder=encoder, progress=progress)
    return _build_index(Path(corpus_dir), Path(index_dir), rebuild=rebuild, progress=progress,
                        encoder=encoder, export=export)


def check_question(question: str) -> str:
    """The question, stripped; QuestionError when it cannot be asked."""
    if not isinstance(question, str):
        raise QuestionError("the question must be text")
    if "\x00" in question:
        raise QuestionError("the question contains binary data (NUL bytes)")
    question = question.strip()
    if not question:
        raise QuestionError("the question is empty")
    if len(question) > MAX_QUESTION_CHARS:
        raise QuestionError(f"the question is {len(question)} characters long; the limit is {MAX_QUESTION_CHARS}")
    return question


class Index:
    """An opened index: search it, or ask it questions (see ``qa.ask``)."""

    def __init__(self, stored: store.StoredIndex, encoder: str | Encoder = "auto") -> None:
        self.stored = stored
        self._encoder_choice = encoder
        self._retriever: Retriever | None = None
        self.notices: list[str] = []
        self.built: IndexReport | None = None  # set by open_or_build when it (re)built the index

    @property
    def root(self) -> Path:
        return self.stored.root

    @property
    def manifest(self) -> Manifest:
        return self.stored.manifest

    @property
    def corpus(self) -> Path:
        return Path(self.stored.manifest.corpus)

    @property
    def model_name(self) -> str:
        return self.stored.manifest.model.name

    def __len__(self) -> int:
        return self.stored.size

    @property
    def retriever(self) -> Retriever:
        if self._retriever is None:
            encoder = query_encoder(self.root, self.manifest, self._encoder_choice, self.notices)
            self._retriever = Retriever(self.stored, encoder)
        return self._retriever

    @property
    def encoder_kind(self) -> str:
        """What embeds queries: "onnx", "torch" (or a stand-in's kind). Loads it if need be."""
        return self.retriever.encoder.kind

    @property
    def export_path(self) -> Path | None:
        """The verified ONNX export this index records, if any."""
        record = self.manifest.onnx
        return export_path(self.root, record) if record else None

    def search(self, query: str, k: int = 5, mode: str = "hybrid") -> list[Hit]:
        """The ``k`` passages most relevant to ``query``, best first.

        Each hit has ``text``, ``path``, ``title``, ``start_line``, ``end_line``,
        ``start_char``, ``end_char``, ``score`` (and ``page`` for PDFs).

        Raises:
            QuestionError: the query is empty, binary or too long.
            ConfigError: ``k`` is not from 1 to 1000, or ``mode`` not hybrid/dense/lexical.
        """
        query = check_question(query)
        return self.retriever.search(query, k=check_k(k), mode=check_mode(mode))

    def answer(self, question: str, k: int = 5, mode: str = "hybrid", *,
               search_query: str | None = None, assumption: str | None = None,
               threshold: float | None = None) -> Answer:
        """Answer ``question`` from the ``k`` best passages (found with ``search_query`` when a
        follow-up was expanded). ``threshold`` overrides the answer model's refusal threshold
        (a calibrated probability; 0 never refuses, which evaluation uses to trace the curve).

        The answer carries its ``fingerprint`` (what it was computed from), any ``conflicts``
        between its sources, and its ``explain`` (why: ``answer.to_dict(explain=True)``)."""
        question = check_question(question)
        if threshold is not None and not 0.0 <= threshold <= 1.0:
            raise ConfigError(f"threshold must be between 0 and 1, not {threshold}")
        from qa.explain import explain

        hits = self.retriever.search(search_query or question, k=check_k(k), mode=check_mode(mode))
        reader = answer_model()
        decision = decide(question, hits, reader, assumption, threshold)
        return replace(decision.answer, explain=explain(search_query or question, hits, decision),
                       fingerprint=self._fingerprint(decision.answer, reader.sha256))

    def _fingerprint(self, answer: Answer, answer_model_sha256: str) -> Fingerprint:
        """What ``answer`` was computed from (a sharded index names its cluster manifest)."""
        from qa.audit import fingerprint

        return fingerprint(answer, self.stored.generation, answer_model_sha256)

    def document_path(self, path: str) -> Path:
        """Absolute path of a cited document; refuses paths that leave the corpus."""
        return store.resolve_in_corpus(self.corpus, path)

    def read_document(self, path: str) -> tuple[Document, bool]:
        """The cited document, decoded exactly as when it was indexed, and whether it still
        matches the indexed version (False: it changed since, so spans may be off)."""
        source = loading.SourceFile(store.safe_relative_path(path), self.document_path(path))
        try:
            document, _ = loading.load(source)
        except loading.SkipFile as exc:
            raise QAError(f"cannot open {path}: {exc}") from exc
        indexed = self.manifest.files.get(path)
        return document, indexed is not None and indexed.sha256 == document.sha256

    def stale_files(self, corpus: Path | None = None) -> list[str]:
        """Files of ``corpus`` (default: the indexed one) that are new, changed or deleted since
        the index was built. Reads every file: cheap for the folders qa is meant for."""

        files = self.manifest.files
        skipped = {p for p, _ in self.manifest.skipped}
        changed = []
        seen = set()
        for source in loading.scan(corpus or self.corpus):
            seen.add(source.path)
            if source.path in skipped and source.path not in files:
                continue
            try:
                raw = loading.read_bytes(source)
            except loading.SkipFile:
                continue
            indexed = files.get(source.path)
            if indexed is None or indexed.sha256 != raw.sha256:
                changed.append(source.path)
        return changed + sorted(set(files) - seen)


def answer_model() -> Reader:
    """qa's shipped answer model, loaded once per process (ModelNotInstalledError, with the way
    to reinstall it, when it is missing or corrupt)."""
    from qa.models.reader import shipped_reader

    return shipped_reader()


def verify_answer(answer: dict[str, Any], index: Index | None = None) -> Verification:
    """Re-check a saved JSON answer (``Answer.to_dict()``) against the files as they are now:
    every quote at its offsets, every cited file's sha256. The files are looked up in ``index``'s
    corpus when given, else in the corpus the answer names."""
    from qa.audit import index_identity, verify

    if index is not None:
        return verify(answer, index.corpus, index_identity(index.stored.generation))
    if not isinstance(answer.get("corpus"), str):
        raise QAError("the answer does not name its corpus (it predates fingerprints): give the index with --index-dir")
    return verify(answer, Path(answer["corpus"]))


def _cluster_address(index_dir: str | Path, cluster: str | None) -> str | None:
    """The Ray address to use (``cluster``, else $QA_CLUSTER); refuses to treat a sharded index
    as a single one, which would silently build or read the wrong thing."""
    import os

    from qa.cluster.manifest import is_cluster_index

    cluster = cluster or os.environ.get("QA_CLUSTER") or None
    if cluster is None and is_cluster_index(Path(index_dir)):
        raise QAError(f"{index_dir} is a sharded index: pass --cluster ADDRESS (or set QA_CLUSTER)")
    return cluster


def open_index(index_dir: str | Path = "embeddings", encoder: str | Encoder = "auto",
               verify: bool = True) -> Index:
    """Open the committed index in ``index_dir`` (checksums verified). A sharded index is
    opened with ``qa.open_cluster`` instead (it needs a Ray cluster; see qa.cluster).

    Args:
        encoder: query encoder, "auto" (the verified ONNX export, else torch), "onnx" or
            "torch", or an Encoder object.

    Raises:
        IndexMissingError, IndexCorruptError, IndexMismatchError; ConfigError for ``encoder``;
        QAError for a sharded index.
    """
    from qa.cluster.manifest import is_cluster_index

    if isinstance(encoder, str):
        check_encoder(encoder, ENCODERS)
    if is_cluster_index(Path(index_dir)):
        raise QAError(f"{index_dir} is a sharded index: open it with --cluster ADDRESS (qa.open_cluster)")
    return Index(store.open_stored(Path(index_dir), model_spec().name, verify=verify), encoder)


def open_or_build(corpus_dir: str | Path = "corpus", index_dir: str | Path = "embeddings", *,
                  progress: IndexProgress | None = None, encoder: str | Encoder = "auto",
                  update: bool = True, rebuild: bool = False,
                  announce: Callable[[str], None] | None = None) -> Index:
    """Open the index, building it first when there is none, and (``update``) bringing it up
    to date first when files of ``corpus_dir`` changed since it was built; ``rebuild``
    re-embeds everything. ``announce`` is told why before a build starts. The returned index's
    ``built`` is the build's report, or None when it was opened as it was.

    Raises:
        IndexMissingError: no index and no corpus folder to build it from.
    """
    corpus, index_dir = Path(corpus_dir), Path(index_dir)
    reason = "rebuilding the index"
    if not rebuild:
        try:
            index = open_index(index_dir, encoder=encoder)
        except IndexMissingError as exc:
            if not corpus.is_dir():
                raise IndexMissingError(
                    f"no index in {index_dir} and no corpus folder {corpus} to build it from: "
                    "run `qa index CORPUS`"
                ) from exc
            reason = f"no index in {index_dir} yet: building it from {corpus}/ (first run)"
        else:
            stale = index.stale_files(corpus) if update and corpus.is_dir() else []
            if not stale:
                return index
            reason = f"{len(stale)} file(s) changed since indexing: updating the index"
    if not corpus.is_dir():
        raise CorpusError(f"cannot rebuild: the corpus folder {corpus} does not exist")
    if announce is not None:
        announce(reason)
    report = build_index(corpus, index_dir, rebuild=rebuild, progress=progress)
    index = open_index(index_dir, encoder=encoder)
    index.built = report
    return index


def load_encoder(kind: str, index: Index | None = None) -> Encoder:
    """An encoder by name: "torch" (sentence-transformers), or "onnx" / "openvino" running the
    verified export of ``index``. For benchmarks that compare encoders on the same texts."""
    check_encoder(kind, ("torch", "onnx", "openvino"))
    if kind == "torch":
        return TorchEncoder()
    path = index.export_path if index is not None else None
    if path is None:
        raise ConfigError(f"the {kind} encoder runs an index's ONNX export: give an index that has one")
    return OnnxEncoder(path) if kind == "onnx" else OpenVinoEncoder(path)


def ask(question: str, index: Index | str | Path = "embeddings", k: int = 5, mode: str = "hybrid") -> Answer:
    """Answer one question from an index (an opened ``Index`` or its directory).

    Returns an ``Answer`` with ``text``, ``grounded``, ``citations`` and ``passages``.
    """
    opened = index if isinstance(index, Index) else open_index(index)
    return opened.answer(question, k=k, mode=mode)


# Pronouns that point back at an earlier question ("How many parties signed it?").
_ANAPHORA = re.compile(r"\b(it|its|they|them|their|theirs|he|him|his|she|her|this|these|those|the same)\b", re.I)


@dataclass(frozen=True)
class Turn:
    question: str
    answer: Answer


class Conversation:
    """Questions in sequence, where a follow-up may lean on the previous turn.

    A follow-up is read with the previous question's key terms added to the search when it
    points back ("it", "they", "this") or when it cannot be answered alone but can with them.
    The answer's ``assumption`` says so.
    """

    def __init__(self, index: Index, k: int = 5, mode: str = "hybrid") -> None:
        self.index = index
        self.k = k
        self.mode = mode
        self.turns: list[Turn] = []

    def reset(self) -> None:
        self.turns.clear()

    def to_markdown(self) -> str:
        """The conversation with every answer's citations, as Markdown."""
        md = markdown_literal  # questions, answers, titles, quotes and paths are all untrusted
        out = ["# qa conversation", ""]
        corpus = self.index.manifest.corpus
        out += [f"Corpus: {md(corpus)} · model: {md(self.index.model_name)}", ""]
        for number, turn in enumerate(self.turns, start=1):
            answer = turn.answer
            out += [f"## {number}. {md(turn.question)}", ""]
            if answer.assumption:
                out += [f"*({md(answer.assumption)})*", ""]
            out += [md(answer.text), ""]
            if answer.grounded:
                for c in answer.citations:
                    out.append(f"{md(f'[{c.n}]')} {md(c.location)} \u2014 {md(c.title)}: \u201c{md(c.quote)}\u201d")
                    out.append("")
            else:
                out.append("Closest matches (not answers):")
                out.append("")
                for hit in answer.passages:
                    out.append(f"- {md(hit.location)} \u2014 {md(hit.title)}")
            out.append("")
        return "\n".join(out)

    def _context(self) -> tuple[str, list[str]] | None:
        for turn in reversed(self.turns):
            if turn.answer.grounded:
                return turn.question, key_terms(turn.question)
        return None

    def ask(self, question: str) -> Answer:
        question = check_question(question)
        context = self._context()
        answer = self.index.answer(question, self.k, self.mode)
        if context is not None:
            previous, terms = context
            new_terms = [t for t in terms if t not in key_terms(question)]
            if new_terms and (_ANAPHORA.search(question) or not answer.grounded):
                expanded_query = f"{question} {previous}"
                expanded = self.index.answer(
                    question, self.k, self.mode, search_query=expanded_query,
                    assumption=f"read as a follow-up to \u201c{previous}\u201d",
                )
                # Only an answer the context made possible is worth the assumption; when both
                # refuse, the plain refusal stands (it would be wrong to claim a reading).
                if expanded.grounded:
                    answer = expanded
        self.turns.append(Turn(question, answer))
        return answer
