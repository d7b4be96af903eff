"""Which encoder embeds, decided here and nowhere else.

* Indexing: ``auto`` is OpenVINO when the optional package is installed, else onnxruntime, both
  running the verified ONNX export; torch (sentence-transformers) when no export can be had.
* Queries: ``auto`` is onnxruntime on the index's export when it is intact, else torch.
* The export lives in ``<index>/models/`` (shared by generations), is made once from the torch
  model, and is trusted only after it reproduces torch's vectors on ``PROBE_TEXTS``; the
  manifest records its sha256, and it is used only while the file still has that sha256.

Every fallback only costs speed, never correctness, and is reported as a notice.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path
from typing import Protocol

from qa import disk, store
from qa.config import ENCODERS as QUERY_ENCODERS
from qa.config import INDEX_ENCODERS, check_encoder
from qa.embedding import (
    Encoder,
    OnnxEncoder,
    OpenVinoEncoder,
    TorchEncoder,
    export_onnx,
    model_spec,
)
from qa.types import ExportRecord, Manifest

MODELS_DIR = "models"

# Texts the export must reproduce before it is trusted: short, long (past truncation), odd.
PROBE_TEXTS = (
    "When was the Pyongyang Declaration signed?",
    "The Declaration was originally signed on 20 April 1992 by 69 parties.",
    "a",
    "Ünïcödé — “quotes”, emoji 🙂 and 中文 text mixed together.",
    "numbers 1 2 3 4 5 6 7 8 9 10 100 1000 3,500 2017",
    " ".join(["socialism independence unity"] * 120),  # ~360 tokens: exercises truncation
    "The capital of Australia is Canberra.",
    "Kim Il Sung paid an official goodwill visit to China in September 1982.",
)
MIN_PROBE_COSINE = 0.9999


class Stages(Protocol):
    def stage(self, name: str, total: int | None = None) -> None: ...


def probe_cosines(candidate: Encoder, reference: Encoder) -> list[float]:
    """Cosine between the two encoders' vectors for every probe text."""
    a = candidate.encode(PROBE_TEXTS)
    b = reference.encode(PROBE_TEXTS)
    return [float(x) for x in (a * b).sum(axis=1)]


def export_path(index_dir: Path, record: ExportRecord) -> Path:
    return index_dir / MODELS_DIR / record.file


def export_intact(index_dir: Path, record: ExportRecord) -> bool:
    """Whether the export a manifest records is in ``models/`` with the recorded sha256."""
    path = export_path(index_dir, record)
    return path.is_file() and disk.checksum(path).sha256 == record.sha256


def committed_export(index_dir: Path, manifest: Manifest | None, model_name: str) -> ExportRecord | None:
    """The export the committed generation records (``manifest``, or read from ``index_dir``),
    if its file is still there and intact. Read even when rebuilding: re-embedding every chunk
    does not call for a new export."""
    if manifest is None:
        manifest = store.committed_manifest(index_dir, model_name)  # None: export afresh
        if manifest is None:
            return None
    record = manifest.onnx
    return record if record and export_intact(index_dir, record) else None


def make_export(index_dir: Path, reference: TorchEncoder | None, notices: list[str]) -> ExportRecord | None:
    """Export the model to ONNX and verify it against sentence-transformers on the probe set.

    Returns the manifest record, or None (with a notice) when export or verification fails, in
    which case queries use sentence-transformers.
    """
    spec = model_spec()
    name = spec.name.rsplit("/", 1)[-1] + ".onnx"
    target = index_dir / MODELS_DIR / name
    try:
        export_onnx(target, spec)
        reference = reference or TorchEncoder(spec)
        cosines = probe_cosines(OnnxEncoder(target, spec), reference)
    except Exception as exc:  # any failure here only costs speed, never correctness
        notices.append(f"ONNX export failed ({type(exc).__name__}: {exc}); queries will use sentence-transformers")
        shutil.rmtree(target, ignore_errors=True) if target.is_dir() else target.unlink(missing_ok=True)
        return None
    worst = min(cosines)
    if worst < MIN_PROBE_COSINE:
        notices.append(f"ONNX export rejected (probe cosine {worst:.6f} < {MIN_PROBE_COSINE}); queries will use sentence-transformers")
        target.unlink(missing_ok=True)
        return None
    return ExportRecord(name, disk.checksum(target).sha256, round(worst, 7), len(cosines))


def _export_encoder(kind: str, onnx_path: Path, notices: list[str]) -> Encoder:
    """The verified export run by onnxruntime or OpenVINO. OpenVINO compiles the graph itself, so
    it must reproduce onnxruntime's vectors on the probe set too; if it cannot, onnxruntime
    embeds instead (with a notice)."""
    reference = OnnxEncoder(onnx_path)
    if kind == "onnx":
        return reference
    try:
        candidate = OpenVinoEncoder(onnx_path)
        worst = min(probe_cosines(candidate, reference))
    except Exception as exc:  # OpenVINO only buys speed: any failure falls back
        notices.append(f"OpenVINO unavailable ({type(exc).__name__}: {exc}); embedding with onnxruntime")
        return reference
    if worst < MIN_PROBE_COSINE:
        notices.append(f"OpenVINO rejected (probe cosine {worst:.6f} < {MIN_PROBE_COSINE}); embedding with onnxruntime")
        return reference
    return candidate


class IndexEncoders:
    """The encoders one indexing run uses, each made at most once.

    Args:
        choice: one of INDEX_ENCODERS, or an Encoder object to embed chunks with (a stand-in
            for benchmarks and tests; no export is made for it).
        export: the committed generation's intact export, if any.
        want_export: make the export for torch-free queries if there is none yet.
    """

    def __init__(self, index_dir: Path, choice: str | Encoder, export: ExportRecord | None,
                 want_export: bool, notices: list[str]) -> None:
        self.index_dir = index_dir
        self.export = export
        self.notices = notices
        self._given = None if isinstance(choice, str) else choice
        self.want_export = want_export and self._given is None
        self._torch: TorchEncoder | None = None
        if isinstance(choice, str):
            check_encoder(choice, INDEX_ENCODERS, "the indexing encoder")
            if choice == "auto":
                # Without an export (and none wanted), torch is the only encoder needing no extra step.
                can_export = want_export or export is not None
                openvino = importlib.util.find_spec("openvino") is not None
                choice = ("openvino" if openvino else "onnx") if can_export else "torch"
        self.kind = choice if isinstance(choice, str) else choice.kind

    def _torch_encoder(self) -> TorchEncoder:
        self._torch = self._torch or TorchEncoder()
        return self._torch

    def for_chunks(self, progress: Stages) -> Encoder:
        """The encoder that embeds this run's new chunks."""
        if self._given is not None:
            return self._given
        if self.kind != "torch" and self.export is None:
            # The faster encoders run the verified export; making it needs torch once.
            progress.stage("exporting ONNX model")
            self.export = make_export(self.index_dir, self._torch_encoder(), self.notices)
        if self.kind != "torch" and self.export is not None:
            return _export_encoder(self.kind, export_path(self.index_dir, self.export), self.notices)
        progress.stage("loading model")
        return self._torch_encoder()

    def final_export(self, progress: Stages) -> ExportRecord | None:
        """The export to record in the new manifest, made now if wanted and still missing."""
        if self.want_export and self.export is None:
            progress.stage("exporting ONNX model for fast queries")
            self.export = make_export(self.index_dir, self._torch, self.notices)
        return self.export


def query_encoder(index_dir: Path, manifest: Manifest, choice: str | Encoder = "auto",
                  notices: list[str] | None = None) -> Encoder:
    """The encoder for queries: the index's verified ONNX export unless told otherwise.

    Falls back to sentence-transformers (with a notice) when the export is missing or its
    checksum does not match the manifest.
    """
    if not isinstance(choice, str):
        return choice
    check_encoder(choice, QUERY_ENCODERS, "the query encoder")
    notices = notices if notices is not None else []
    record = manifest.onnx
    if choice in ("auto", "onnx") and record is not None:
        path = export_path(index_dir, record)
        if export_intact(index_dir, record):
            try:
                return OnnxEncoder(path)
            except Exception as exc:  # a corrupt export only costs speed
                notices.append(f"ONNX model {path} failed to load ({type(exc).__name__}); using sentence-transformers")
        else:
            notices.append(f"ONNX model {path} is missing or fails its checksum; using sentence-transformers (run `qa index` to re-export)")
    elif choice == "onnx":
        notices.append("this index has no ONNX export; using sentence-transformers (run `qa index` to export)")
    return TorchEncoder()
