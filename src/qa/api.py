"""The Python API: the one place that wires the steps together. The CLI and the TUI call only
this module (and ``qa.types``)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from qa import loading, store
from qa.answering import TermWeights, compose, key_terms
from qa.embedding import Encoder, model_spec
from qa.errors import QAError, QuestionError
from qa.indexing import IndexProgress, IndexReport
from qa.indexing import build_index as _build_index
from qa.retrieval import Retriever, query_encoder
from qa.safety import markdown_literal
from qa.types import Answer, Document, Hit

MAX_QUESTION_CHARS = 4000


def build_index(corpus_dir: str | Path = "corpus", index_dir: str | Path = "embeddings", *,
                rebuild: bool = False, progress: IndexProgress | None = None,
                encoder: str = "auto", export: bool = True, cluster: str | None = None,
                shards: int | None = None) -> IndexReport:
    """Index ``corpus_dir`` into ``index_dir`` incrementally and return what was done.

    With ``cluster`` (a Ray address, ``auto`` or ``local``; default ``$QA_CLUSTER``) the index is
    sharded into ``shards`` parts built by Ray tasks (needs ``qa[cluster]``, see qa.cluster).

    Example:
        >>> report = qa.build_index("corpus", "embeddings")
        >>> report.chunks, report.chunks_embedded
    """
    cluster = _cluster_address(index_dir, cluster)
    if cluster:
        from qa.cluster import build_sharded

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

    def __init__(self, stored: store.StoredIndex, encoder: str = "auto") -> None:
        self.stored = stored
        self._encoder_choice = encoder
        self._retriever: Retriever | None = None
        self._weights: TermWeights | None = None
        self.notices: list[str] = []

    @property
    def root(self) -> Path:
        return self.stored.root

    @property
    def manifest(self) -> dict:
        return self.stored.manifest

    @property
    def corpus(self) -> Path:
        return Path(self.stored.manifest["corpus"])

    @property
    def model_name(self) -> str:
        return str(self.stored.manifest["model"]["name"])

    def __len__(self) -> int:
        return self.stored.size

    @property
    def retriever(self) -> Retriever:
        if self._retriever is None:
            encoder: Encoder = query_encoder(self.stored, self._encoder_choice, self.notices)
            self._retriever = Retriever(self.stored, encoder)
        return self._retriever

    def search(self, query: str, k: int = 5, mode: str = "hybrid") -> list[Hit]:
        """The ``k`` passages most relevant to ``query``, best first.

        Each hit has ``text``, ``path``, ``title``, ``start_line``, ``end_line``,
        ``start_char``, ``end_char``, ``score`` (and ``page`` for PDFs).
        """
        return self.retriever.search(check_question(query), k=k, mode=mode)

    def answer(self, question: str, k: int = 5, mode: str = "hybrid", *,
               search_query: str | None = None, assumption: str | None = None) -> Answer:
        """Answer ``question`` from the ``k`` best passages (found with ``search_query`` when a
        follow-up was expanded)."""
        question = check_question(question)
        hits = self.retriever.search(search_query or question, k=k, mode=mode)
        if self._weights is None:
            self._weights = TermWeights(self.retriever)
        return compose(question, hits, self.retriever, self._weights, assumption)

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
        indexed = self.manifest.get("files", {}).get(path, {})
        return document, indexed.get("sha256") == document.sha256

    def stale_files(self, corpus: Path | None = None) -> list[str]:
        """Files of ``corpus`` (default: the indexed one) that are new, changed or deleted since
        the index was built. Reads every file: cheap for the folders qa is meant for."""

        files = self.manifest.get("files", {})
        skipped = {p for p, _ in self.manifest.get("skipped", [])}
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
            if files.get(source.path, {}).get("sha256") != raw.sha256:
                changed.append(source.path)
        return changed + sorted(set(files) - seen)


def _cluster_address(index_dir: str | Path, cluster: str | None) -> str | None:
    """The Ray address to use (``cluster``, else $QA_CLUSTER); refuses to treat a sharded index
    as a single one, which would silently build or read the wrong thing."""
    import os

    from qa.cluster import is_cluster_index

    cluster = cluster or os.environ.get("QA_CLUSTER") or None
    if cluster is None and is_cluster_index(Path(index_dir)):
        raise QAError(f"{index_dir} is a sharded index: pass --cluster ADDRESS (or set QA_CLUSTER)")
    return cluster


def open_index(index_dir: str | Path = "embeddings", encoder: str = "auto", verify: bool = True,
               cluster: str | None = None) -> Index:
    """Open the committed index in ``index_dir`` (checksums verified).

    With ``cluster`` (default ``$QA_CLUSTER``), open a sharded index served by Ray actors: a
    ``qa.cluster.ClusterIndex``, used exactly like an ``Index``.
    """
    cluster = _cluster_address(index_dir, cluster)
    if cluster:
        from qa.cluster import open_cluster

        return open_cluster(index_dir, cluster, encoder=encoder)
    return Index(store.open_stored(Path(index_dir), model_spec().name, verify=verify), encoder)


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
        corpus = self.index.manifest.get("corpus", "")
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
