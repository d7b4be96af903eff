"""The Python API: the one place that wires the steps together and the only policy layer. The
CLI, the TUI and the benchmarks call only this (through ``qa``), ``qa.types`` and ``qa.errors``,
plus ``qa.config`` for settings and ``qa.safety`` for showing untrusted text."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from qa import loading, store
from qa.answering import decide
from qa.config import ENCODERS, check_encoder, check_k, check_mode
from qa.embedding import Encoder, OnnxEncoder, OpenVinoEncoder, TorchEncoder, model_spec
from qa.encoder_policy import export_path, query_encoder
from qa.errors import (
    ConfigError,
    CorpusError,
    IndexCorruptError,
    IndexMismatchError,
    IndexMissingError,
    QAError,
    QuestionError,
)
from qa.indexing import IndexProgress, IndexReport
from qa.indexing import build_index as _build_index
from qa.locations import index_dir_for
from qa.records import Manifest
from qa.retrieval import Retriever
from qa.types import Answer, Document, Fingerprint, Hit

if TYPE_CHECKING:
    from typing import Any

    from qa.audit import Verification
    from qa.models.nli import Judge
    from qa.models.reader import Reader

MAX_QUESTION_CHARS = 4000


def build_index(corpus_dir: str | Path = "corpus", index_dir: str | Path | None = None, *,
                rebuild: bool = False, progress: IndexProgress | None = None,
                encoder: str | Encoder = "auto", export: bool = True, cluster: str | None = None,
                shards: int | None = None) -> IndexReport:
    """Index ``corpus_dir`` into ``index_dir`` (default: the corpus's own index folder, see
    ``qa.locations``) incrementally and return what was done.

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
    index_dir = Path(index_dir) if index_dir is not None else index_dir_for(Path(corpus_dir))
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
    try:
        question.encode("utf-8")
    except UnicodeEncodeError as exc:  # lone surrogates: undecodable bytes from argv or a caller
        raise QuestionError("the question is not valid text (undecodable bytes or lone surrogates): "
                            "type it again in UTF-8") from exc
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
        from qa.audit import index_identity

        # Read now, like the rest of the generation: answers are fingerprinted with it even after
        # another writer's commits have pruned this generation's files.
        self.identity = index_identity(stored.generation) if isinstance(stored, store.StoredIndex) else None

    @property
    def root(self) -> Path:
        return self.stored.root

    @property
    def manifest(self) -> Manifest:
        return self.stored.manifest

    @property
    def corpus(self) -> Path:
        """The indexed folder: found relative to the index first (a moved project keeps
        working), else at the absolute path recorded. Only a root: every file shown from it is
        checked against its indexed checksum (read_document)."""
        relative = self.stored.manifest.corpus_relative
        if relative and (self.root / relative).is_dir():
            return (self.root / relative).resolve()
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
        reader, judge = answer_model(), inference_model()
        decision = decide(question, hits, reader, assumption, threshold, judge)
        return replace(decision.answer, explain=explain(search_query or question, hits, decision),
                       fingerprint=self._fingerprint(decision.answer, reader.sha256, judge.sha256))

    def _fingerprint(self, answer: Answer, answer_model_sha256: str,
                     nli_model_sha256: str | None = None) -> Fingerprint:
        """What ``answer`` was computed from (a sharded index names its cluster manifest)."""
        from qa.audit import fingerprint

        if self.identity is None:
            raise QAError("this index has no generation identity to fingerprint answers with")
        return fingerprint(answer, self.identity, answer_model_sha256, nli_model_sha256)

    def document_path(self, path: str) -> Path:
        """Absolute path of a cited document; refuses paths that leave the corpus."""
        return store.resolve_in_corpus(self.corpus, path)

    def read_document(self, path: str) -> tuple[Document, bool]:
        """The cited document, decoded exactly as when it was indexed. Its checksum is verified
        first: a file that differs from the indexed one (edited since, or not the file the
        index meant: a doctored manifest's corpus pointing at /etc) is never shown as the cited
        document. The bool is kept for callers; it is always True."""
        indexed = self.manifest.files.get(path)
        if indexed is None:
            raise QAError(f"{path} is not a file of this index")
        source = loading.SourceFile(store.safe_relative_path(path), self.document_path(path))
        try:
            raw = loading.read_bytes(source)
        except loading.SkipFile as exc:
            raise QAError(f"cannot open {path}: {exc}") from exc
        if raw.sha256 != indexed.sha256:
            raise QAError(f"{path} changed since it was indexed (its checksum differs): run `qa index` "
                          "to see it as cited")
        try:
            return loading.parse(source, raw), True
        except loading.SkipFile as exc:
            raise QAError(f"cannot open {path}: {exc}") from exc

    def refreshed(self) -> Index:
        """This index, or, when another process has committed a newer generation since it was
        opened, that generation opened whole (its query encoder reused). Never half of one:
        on any error reading the new generation this index is returned unchanged."""
        try:
            current = store.current_generation(self.root)
        except QAError:
            return self
        if current is None or current == self.stored.generation:
            return self
        try:
            fresh = open_index(self.root, self._encoder_choice)
        except QAError:
            return self
        if self._retriever is not None and fresh.model_name == self.model_name:
            fresh._retriever = Retriever(fresh.stored, self._retriever.encoder)
        fresh.notices.append(f"index updated to {fresh.stored.generation.name} by another `qa index`")
        return fresh

    def indexes(self, corpus: Path) -> bool:
        """Whether this is the index of the folder ``corpus`` (by resolved path)."""
        return self.corpus.resolve() == corpus.resolve()

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


def inference_model() -> Judge:
    """qa's shipped inference (NLI) model, which finds contradicting sources; loaded once per
    process (ModelNotInstalledError, with the way to reinstall it, when missing or corrupt)."""
    from qa.models.nli import shipped_judge

    return shipped_judge()


def verify_answer(answer: dict[str, Any], index: Index | str | Path | None = None) -> Verification:
    """Re-check a saved JSON answer (``Answer.to_dict()``) against the files as they are now:
    every quote at its offsets, every cited file's sha256. The files are looked up in the corpus
    of ``index`` (an opened index, or an index folder, single or sharded) when given, else in
    the corpus the answer names. A sharded folder is read without Ray: verifying needs only its
    cluster manifest and the files, not the shards."""
    from qa.audit import manifest_identity, verify

    if isinstance(index, str | Path):
        from qa.cluster.manifest import CLUSTER_MANIFEST, is_cluster_index, read_manifest

        if is_cluster_index(Path(index)):
            corpus = Path(read_manifest(Path(index))["corpus"])
            return verify(answer, corpus, manifest_identity(Path(index) / CLUSTER_MANIFEST))
        index = open_index(index)
    if index is not None:
        if index.identity is None:
            raise QAError("this index has no identity to check answers against")
        return verify(answer, index.corpus, index.identity)
    if not isinstance(answer.get("corpus"), str):
        raise QAError("the answer does not name its corpus (it predates fingerprints): give the index with --index-dir")
    return verify(answer, Path(answer["corpus"]))


def _cluster_address(index_dir: str | Path, cluster: str | None) -> str | None:
    """The Ray address to build on (``cluster``, else $QA_CLUSTER); a sharded index is never
    rebuilt as a single one (that would silently build the wrong thing): with no address it
    is built on ``local``, a Ray instance for this process (as ``qa.open_index`` serves it)."""
    import os

    from qa.cluster.manifest import is_cluster_index

    cluster = cluster or os.environ.get("QA_CLUSTER") or None
    if cluster is None and is_cluster_index(Path(index_dir)):
        return "local"
    return cluster


def open_index(index_dir: str | Path = "embeddings", encoder: str | Encoder = "auto",
               verify: bool = True) -> Index:
    """Open the committed single index in ``index_dir`` (checksums verified). ``qa.open_index``
    (qa.opening) is this for a single index and serves a sharded one on Ray.

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
        raise QAError(f"{index_dir} is a sharded index: open it with qa.open_index, which serves it on Ray")
    return Index(store.open_stored(Path(index_dir), model_spec().name, verify=verify), encoder)


def open_or_build(corpus_dir: str | Path | None = "corpus", index_dir: str | Path | None = None, *,
                  progress: IndexProgress | None = None, encoder: str | Encoder = "auto",
                  update: bool = True, rebuild: bool = False,
                  announce: Callable[[str], None] | None = None) -> Index:
    """Open the index, building it first when there is none, and (``update``) bringing it up
    to date first when files of ``corpus_dir`` changed since it was built; ``rebuild``
    re-embeds everything. ``announce`` is told why before a build starts. The returned index's
    ``built`` is the build's report, or None when it was opened as it was. Without
    ``index_dir`` the index is the corpus's own (``qa.locations.index_dir_for``); with
    ``corpus_dir`` None, ``index_dir`` is opened for whatever corpus it indexes. An index of
another folder than ``corpus_dir`` is never used as it is: it is re-indexed (announced).

    Raises:
        IndexMissingError: no index and no corpus folder to build it from.
    """
    if corpus_dir is None and index_dir is None:
        raise ConfigError("give a corpus folder or an index folder")
    corpus = Path(corpus_dir) if corpus_dir is not None else None
    index_dir = Path(index_dir) if index_dir is not None else index_dir_for(Path(corpus_dir or "."))
    reason = "rebuilding the index"
    try:
        index = open_index(index_dir, encoder=encoder, verify=not rebuild)
    except IndexMissingError as exc:
        if corpus is None or not corpus.is_dir():
            raise IndexMissingError(f"no index in {index_dir} and no corpus folder {corpus or ''} to build it "
                                    f"from: run `qa index CORPUS`") from exc
        reason = f"no index in {index_dir} yet: building it from {corpus}/ (first run)"
    except (IndexCorruptError, IndexMismatchError):
        if not rebuild or corpus is None:  # a rebuild replaces a broken index of a known corpus
            raise
    else:
        if corpus is None:
            corpus = index.corpus
        if corpus.is_dir() and not index.indexes(corpus):
            # Never answer one folder's questions from another's index: this folder is the
            # place asked for, so it is re-indexed for ``corpus`` (files with the same content
            # keep their vectors), and the caller is told.
            reason = f"{index_dir} is the index of {index.corpus}, not of {corpus.resolve()}: re-indexing it"
        elif not rebuild:
            stale = index.stale_files(corpus) if update and corpus.is_dir() else []
            if not stale:
                return index
            reason = f"{len(stale)} file(s) changed since indexing: updating the index"
    if not corpus.is_dir():
        raise CorpusError(f"cannot rebuild: the corpus folder {corpus} does not exist")
    if announce is not None:
        announce(reason)
    # An Encoder object (a stand-in) embeds the chunks too; by name, it only picks the query encoder.
    if isinstance(encoder, str):
        report = build_index(corpus, index_dir, rebuild=rebuild, progress=progress)
    else:
        report = build_index(corpus, index_dir, rebuild=rebuild, progress=progress, encoder=encoder, export=False)
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
