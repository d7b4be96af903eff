"""qa's inference (NLI) model: reads ``[CLS] premise [SEP] hypothesis [SEP]`` and says whether
the hypothesis follows from the premise, is unrelated, or contradicts it.

all-MiniLM-L6-v2 fine-tuned by ``training/nli_model.py`` on SNLI + MultiNLI dev pairs with a
3-way head; like the answer model (``qa.models.reader``) its word embeddings were frozen, so the
artifact ships only the trained layers and reads the word vectors from the installed MiniLM,
checked by sha256. Torch-free: onnxruntime, tokenizers and numpy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import qa.models.artifact as artifact
from qa.errors import ModelNotInstalledError

if TYPE_CHECKING:
    import numpy as np

MAX_LENGTH = 128  # word pieces of premise + hypothesis with the three special tokens
MAX_HYPOTHESIS = 60
CLS, SEP = 101, 102
LABELS = ("entailment", "neutral", "contradiction")


@dataclass(frozen=True)
class Pair:
    """One model input."""

    ids: tuple[int, ...]
    type_ids: tuple[int, ...]


def encode_pair(tok: Any, premise: str, hypothesis: str, max_length: int = MAX_LENGTH) -> Pair:
    """The word pieces the model reads; the premise is cut first when the pair is too long (the
    hypothesis is the short claim being checked). Training uses this same code."""
    h = tok.encode(hypothesis, add_special_tokens=False).ids[:MAX_HYPOTHESIS]
    p = tok.encode(premise, add_special_tokens=False).ids[:max(1, max_length - len(h) - 3)]
    head = (CLS, *p, SEP)
    return Pair(ids=(*head, *h, SEP), type_ids=(0,) * len(head) + (1,) * (len(h) + 1))


ARTIFACT_DIR = Path(__file__).with_name("nli")
REBUILD = "python training/nli_model.py"


@dataclass(frozen=True)
class Card:
    """The part of the model card the runtime needs."""

    onnx_file: str
    onnx_sha256: str
    base_model_sha256: str
    labels: tuple[str, ...]
    # P(contradiction) in both directions at or above this is a contradiction: chosen on the
    # held-out premises for high precision (see the card's ``threshold`` section).
    contradiction_threshold: float


def load_card(directory: Path) -> Card:
    runtime = artifact.read_card(directory, "inference model", REBUILD)
    try:
        card = Card(
            onnx_file=str(runtime["onnx_file"]),
            onnx_sha256=str(runtime["onnx_sha256"]),
            base_model_sha256=str(runtime["base_model_sha256"]),
            labels=tuple(str(x) for x in runtime["labels"]),
            contradiction_threshold=float(runtime["contradiction_threshold"]),
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise ModelNotInstalledError(artifact.reinstall(
            f"the inference model's card {directory / 'card.json'} is unreadable ({exc})", REBUILD)) from exc
    if card.labels != LABELS:
        raise ModelNotInstalledError(artifact.reinstall(
            f"the inference model's card {directory / 'card.json'} has labels {card.labels}, expected {LABELS}", REBUILD))
    return card


class Judge:
    """The shipped inference model in onnxruntime."""

    def __init__(self, directory: Path = ARTIFACT_DIR, model_dir: Path | None = None) -> None:
        from qa.models.reader import tokenizer

        self.card = load_card(directory)
        onnx_path = artifact.checked_onnx(directory, self.card.onnx_file, self.card.onnx_sha256,
                                          "inference model", REBUILD)
        base, self.word_vectors = artifact.base_model(self.card.base_model_sha256, "inference model", model_dir)
        self.tok = tokenizer(base)
        self.session = artifact.session(onnx_path)
        self.sha256 = self.card.onnx_sha256

    def probabilities(self, pairs: Sequence[tuple[str, str]], batch_size: int = 16) -> np.ndarray:
        """P(entailment, neutral, contradiction) for each (premise, hypothesis), in order."""
        import numpy as np

        encoded = [encode_pair(self.tok, p, h) for p, h in pairs]
        out = np.zeros((len(encoded), len(LABELS)), dtype=np.float32)
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i].ids))  # less padding
        for lo in range(0, len(order), batch_size):
            rows = order[lo:lo + batch_size]
            (logits,) = self.session.run(None, artifact.padded(
                [(encoded[i].ids, encoded[i].type_ids) for i in rows], self.word_vectors))
            z = np.exp(logits - logits.max(axis=1, keepdims=True))
            out[rows] = z / z.sum(axis=1, keepdims=True)
        return out

    def contradiction(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        """How sure the model is that each (a, b) contradict each other: P(contradiction) read
        both ways, the lower of the two (a contradiction holds in both directions; a one-way
        score is often a hypothesis that merely says more). The card's threshold was chosen on
        this same score."""
        if not pairs:
            return []
        both = self.probabilities([*pairs, *((b, a) for a, b in pairs)])
        n = len(pairs)
        return [float(min(both[i, 2], both[n + i, 2])) for i in range(n)]


@lru_cache(maxsize=1)
def shipped_judge() -> Judge:
    """The shipped inference model, loaded once per process."""
    return Judge()
