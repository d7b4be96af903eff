"""qa's own answer model: reads ``[CLS] question [SEP] passage [SEP]`` and says whether the
passage answers the question, and which words do.

The network is all-MiniLM-L6-v2 fine-tuned by ``training/answer_model.py`` with two heads: a
start/end span head over the passage's word pieces and an "answers" logit on ``[CLS]``. Its word
embeddings were frozen during training, so the artifact ships only what changed (positions,
token types, the six transformer layers and the heads) and looks the word vectors up in the
shipped MiniLM's own ``model.safetensors``. That keeps the artifact small and means the base
model it was trained on is checked by sha256 before use: a different base would silently give
wrong answers.

Torch-free: onnxruntime, tokenizers and numpy. The featurisation (``encode``) is the same code
that training uses, so what the model saw when it learned is what it sees when it answers.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import qa.models.artifact as artifact
from qa.errors import ModelNotInstalledError

if TYPE_CHECKING:
    import numpy as np

MAX_LENGTH = 256  # word pieces of question + passage, with the three special tokens
MAX_QUESTION = 64
STRIDE = 96  # overlap between windows of a passage that does not fit in one
MAX_ANSWER_PIECES = 30
CLS, SEP = 101, 102
ARTIFACT_DIR = Path(__file__).with_name("answer")
REBUILD = "python training/answer_model.py"


@dataclass(frozen=True)
class Window:
    """One model input: word-piece ids plus, for each passage piece, its char span in the passage."""

    ids: tuple[int, ...]
    type_ids: tuple[int, ...]
    context_start: int  # index of the first passage piece in ``ids``
    offsets: tuple[tuple[int, int], ...]  # passage char span of each passage piece


@dataclass(frozen=True)
class Reading:
    """What the model read in one passage: how likely it answers, and the best answer words."""

    probability: float  # calibrated P(this passage answers the question)
    logit: float  # the raw answer logit, before calibration
    spans: tuple[tuple[int, int, float], ...]  # best answer-word char spans in the passage, best first
    null_margin: float = 0.0  # best span's score minus the no-answer ([CLS]) span's score
    missing: int = 0  # the question's specifics the passage never mentions (missing_specifics)

    @property
    def start(self) -> int:
        return self.spans[0][0]

    @property
    def end(self) -> int:
        return self.spans[0][1]

    @property
    def span_score(self) -> float:
        return self.spans[0][2]


def tokenizer(model_dir: Path) -> Any:
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()
    return tok


def encode(tok: Any, question: str, passage: str, max_length: int = MAX_LENGTH,
           stride: int = STRIDE) -> list[Window]:
    """The windows the model reads for ``passage``: one when it fits, overlapping ones otherwise."""
    q_ids = tok.encode(question, add_special_tokens=False).ids[:MAX_QUESTION]
    piece = tok.encode(passage, add_special_tokens=False)
    room = max_length - len(q_ids) - 3
    ids, offsets = piece.ids, piece.offsets
    windows = []
    begin = 0
    while True:
        end = min(len(ids), begin + room)
        head = [CLS, *q_ids, SEP]
        windows.append(Window(
            ids=(*head, *ids[begin:end], SEP),
            type_ids=(0,) * len(head) + (1,) * (end - begin + 1),
            context_start=len(head),
            offsets=tuple((int(o[0]), int(o[1])) for o in offsets[begin:end]),
        ))
        if end >= len(ids):
            return windows
        begin = end - stride if end - stride > begin else end


def best_spans(start_logits: np.ndarray, end_logits: np.ndarray, window: Window,
               top: int = 20) -> list[tuple[int, int, float]]:
    """The ``top`` best (start char, end char, score) spans inside the passage part of ``window``."""
    import numpy as np

    lo, n = window.context_start, len(window.offsets)
    if n == 0:
        return [(0, 0, float("-inf"))]
    starts = start_logits[lo:lo + n]
    ends = end_logits[lo:lo + n]
    # score[i, j] = start[i] + end[j] for i <= j < i + MAX_ANSWER_PIECES
    grid = starts[:, None] + ends[None, :]
    i_idx, j_idx = np.indices(grid.shape)
    grid = np.where((j_idx >= i_idx) & (j_idx < i_idx + MAX_ANSWER_PIECES), grid, -np.inf)
    flat = np.argsort(grid, axis=None)[::-1][:top]
    out = []
    for index in flat:
        i, j = divmod(int(index), n)
        if np.isfinite(grid[i, j]):
            out.append((window.offsets[i][0], window.offsets[j][1], float(grid[i, j])))
    return out


_NOT_NAMES = {"what", "when", "where", "who", "whom", "which", "why", "how", "i"}
_SPECIFIC = re.compile(r"\b\d[\d,.]*\d\b|\b\d\b|\b[A-Z][\w'-]*[a-z][\w'-]*\b")
_WORDS = re.compile(r"[\w'-]+")


def missing_specifics(question: str, passage: str) -> int:
    """How many of the question's specifics (numbers, years, capitalised names) the passage never
    mentions: "How many parties had signed it by 2007?" against a passage without "2007" asks
    about something the passage does not cover. The first word of the question is not a name."""
    words = {w.lower().strip("'-.,") for w in _WORDS.findall(passage)}
    count = 0
    for match in _SPECIFIC.finditer(question):
        term = match.group(0).lower().strip("'-.,")
        if match.start() == 0 or term in _NOT_NAMES:
            continue
        count += term not in words
    return count


@dataclass(frozen=True)
class Card:
    """The part of the model card the runtime needs."""

    onnx_file: str
    onnx_sha256: str
    base_model_sha256: str
    features: tuple[str, ...]  # what the calibration reads: "logit", "margin", "missing"
    weights: tuple[float, ...]  # p = sigmoid(weights . features + bias), fitted on held-out articles
    bias: float
    threshold: float  # refusal threshold on the calibrated probability
    span_threshold: float  # show the short answer only at or above this probability


def load_card(directory: Path) -> Card:
    runtime = artifact.read_card(directory, "answer model", REBUILD)
    try:
        return Card(
            onnx_file=str(runtime["onnx_file"]),
            onnx_sha256=str(runtime["onnx_sha256"]),
            base_model_sha256=str(runtime["base_model_sha256"]),
            features=tuple(str(f) for f in runtime["calibration"]["features"]),
            weights=tuple(float(w) for w in runtime["calibration"]["weights"]),
            bias=float(runtime["calibration"]["bias"]),
            threshold=float(runtime["threshold"]),
            span_threshold=float(runtime["span_threshold"]),
        )
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        raise ModelNotInstalledError(artifact.reinstall(
            f"the answer model's card {directory / 'card.json'} is unreadable ({exc})", REBUILD)) from exc


class Reader:
    """The shipped answer model in onnxruntime."""

    def __init__(self, directory: Path = ARTIFACT_DIR, model_dir: Path | None = None) -> None:
        self.card = load_card(directory)
        onnx_path = artifact.checked_onnx(directory, self.card.onnx_file, self.card.onnx_sha256, "answer model", REBUILD)
        base, self.word_vectors = artifact.base_model(self.card.base_model_sha256, "answer model", model_dir)
        self.tok = tokenizer(base)
        self.session = artifact.session(onnx_path)
        self.sha256 = self.card.onnx_sha256

    def probability(self, features: dict[str, float]) -> float:
        z = self.card.bias + sum(w * features[f] for f, w in zip(self.card.features, self.card.weights, strict=True))
        return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))

    def run(self, windows: Sequence[Window]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Start logits, end logits and answer logits for a batch of windows (padded)."""
        start, end, answer = self.session.run(
            None, artifact.padded([(w.ids, w.type_ids) for w in windows], self.word_vectors))
        return start, end, answer.reshape(-1)

    def read(self, question: str, passages: Sequence[str], contexts: Sequence[str] | None = None,
             batch_size: int = 8) -> list[Reading]:
        """One ``Reading`` per passage: its best window's answer probability and answer words.
        ``contexts`` (default: the passages) is what each passage is about, for ``missing``."""
        contexts = passages if contexts is None else contexts
        windows: list[tuple[int, Window]] = [
            (p, w) for p, text in enumerate(passages) for w in encode(self.tok, question, text)]
        best: dict[int, Reading] = {}
        order = sorted(range(len(windows)), key=lambda i: len(windows[i][1].ids))  # less padding
        for lo in range(0, len(order), batch_size):
            batch = [windows[i] for i in order[lo:lo + batch_size]]
            starts, ends, answers = self.run([w for _, w in batch])
            for row, (p, w) in enumerate(batch):
                logit = float(answers[row])
                spans = tuple(best_spans(starts[row], ends[row], w))
                margin = spans[0][2] - float(starts[row][0] + ends[row][0])
                missing = missing_specifics(question, contexts[p])
                features = {"logit": logit, "margin": margin, "missing": float(missing)}
                reading = Reading(self.probability(features), logit, spans, margin, missing)
                if p not in best or (reading.logit, reading.span_score) > (best[p].logit, best[p].span_score):
                    best[p] = reading
        return [best[p] for p in range(len(passages))]


@lru_cache(maxsize=1)
def shipped_reader() -> Reader:
    """The shipped answer model, loaded once per process."""
    return Reader()
