"""Which encoder embeds, decided here and nowhere else.

* Indexing: ``auto`` is OpenVINO when the optional package is installed, else onnxruntime, both
  running the verified ONNX export; torch (sentence-transformers) when no export can be had.
* Queries: ``auto`` is onnxruntime on the index's export when it is intact, else torch.
* The export is made once per model, from the torch model, into the user cache
  ``$XDG_CACHE_HOME/qa/onnx/<sha256 of the model weights>/`` (``qa.locations``), so a new corpus
  starts without re-exporting (15-17 s here). It is trusted only after it reproduces torch's
  vectors on ``PROBE_TEXTS``; its ``export.json`` and every manifest record its sha256, and it is
  used only while the file still has that sha256 (a corrupt cached export is exported again,
  never used). Indexes built before the cache, and sharded ones, keep theirs in ``<index>/models/``.

Every fallback only costs speed, never correctness, and is reported as a notice.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import re
import shutil
import time
from pathlib import Path
from typing import Protocol

from qa import disk, locations, store
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
from qa.errors import QAError
from qa.records import ExportRecord, Manifest

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
    if record.source_sha256:
        return locations.onnx_cache() / record.source_sha256 / record.file
    return index_dir / MODELS_DIR / record.file


def export_intact(index_dir: Path, record: ExportRecord) -> bool:
    """Whether the export a manifest records is where it says (the cache or ``models/``), a
    regular file (not a link) with the recorded sha256."""
    path = export_path(index_dir, record)
    return path.is_file() and not path.is_symlink() and disk.checksum(path).sha256 == record.sha256


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
    """Export the model to ONNX into ``index_dir/models/`` and verify it against
    sentence-transformers on the probe set (a sharded index keeps its own, which Ray workers
    read from the index folder).

    Returns the manifest record, or None (with a notice) when export or verification fails, in
    which case queries use sentence-transformers.
    """
    return _export_to(index_dir / MODELS_DIR, reference, notices)


def _export_to(folder: Path, reference: TorchEncoder | None, notices: list[str]) -> ExportRecord | None:
    spec = model_spec()
    name = spec.name.rsplit("/", 1)[-1] + ".onnx"
    target = folder / name
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


EXPORT_RECORD = "export.json"


def weights_sha256() -> str:
    """sha256 of the installed model's weights: what the shared export is a function of."""
    return disk.checksum(model_spec().directory() / "model.safetensors").sha256


def _cached_record(folder: Path, source: str) -> ExportRecord | None:
    """The export in cache ``folder`` if its record is readable and its file (a regular file,
    not a link) has the recorded sha256; None for anything else (missing, corrupt, planted)."""
    try:
        if folder.is_symlink() or not folder.is_dir():
            return None
        data = json.loads((folder / EXPORT_RECORD).read_text(encoding="utf-8"))
        record = ExportRecord(str(data["file"]), str(data["sha256"]), float(data["min_probe_cosine"]),
                              int(data["probes"]), source)
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError, RecursionError):
        return None
    if "/" in record.file or data.get("source_sha256") != source or not export_intact(folder, record):
        return None
    return record


def shared_export() -> ExportRecord | None:
    """The installed model's export from the user cache if it is there and intact."""
    source = weights_sha256()
    return _cached_record(locations.onnx_cache() / source, source)


_LEFTOVER = re.compile(r"\.(?:tmp|old)-(\d+)-\d+")


def _remove_dead_staging(root: Path) -> None:
    """Remove what a killed export left in the cache: only qa's names, only when that PID is
    gone, only real folders."""
    for item in root.iterdir():
        match = _LEFTOVER.fullmatch(item.name)
        if not match or item.is_symlink() or not item.is_dir() or int(match.group(1)) == os.getpid():
            continue
        try:
            os.kill(int(match.group(1)), 0)
        except ProcessLookupError:
            shutil.rmtree(item, ignore_errors=True)
        except OSError:
            pass  # alive, someone else's


def cached_export(index_dir: Path, reference: TorchEncoder | None, notices: list[str]) -> ExportRecord | None:
    """The verified export of the installed model from the user cache, made (and verified) now
    when the cache has none or a corrupt one. When the cache cannot be used (unwritable, not
    qa's), the export goes to ``index_dir/models/`` as before, with a notice."""
    source = weights_sha256()
    root = locations.onnx_cache()
    folder = root / source
    record = _cached_record(folder, source)
    if record is not None:
        return record
    try:
        disk.claim(root, lambda _: False)  # a folder qa made (marker) and without links in it
        _remove_dead_staging(root)
        staging = root / f".tmp-{os.getpid()}-{time.time_ns()}"
        disk.fs.mkdir(staging)
    except (OSError, QAError) as exc:
        notices.append(f"cannot use the model cache {root} ({exc}); exporting into {index_dir / MODELS_DIR}")
        return make_export(index_dir, reference, notices)
    try:
        made = _export_to(staging, reference, notices)
        if made is None:
            return None
        made = dataclasses.replace(made, source_sha256=source)
        disk.write_file(staging / EXPORT_RECORD, json.dumps(dataclasses.asdict(made), indent=2).encode())
        disk.fsync_dir(staging)
        _install(staging, folder)
        disk.fsync_dir(root)
    except OSError as exc:
        notices.append(f"cannot write the model cache {root} ({exc}); exporting into {index_dir / MODELS_DIR}")
        return make_export(index_dir, reference, notices)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    # Another process may have installed its own export a moment before ours: use what is there.
    return _cached_record(folder, source) or make_export(index_dir, reference, notices)


def _install(staging: Path, folder: Path) -> None:
    """Rename the verified ``staging`` folder to ``folder``, moving a corrupt one aside first
    (and removing it: only a real folder, in the claimed cache, named as qa names them)."""
    if folder.is_symlink():
        raise OSError(f"{folder} is a symbolic link: qa never writes through links")
    aside = folder.with_name(f".old-{os.getpid()}-{time.time_ns()}")
    if folder.exists():
        disk.fs.rename(folder, aside)
    try:
        disk.fs.rename(staging, folder)
    except OSError:
        if not folder.exists():
            raise
        # Lost a race with another writer's install: keep theirs (checked by the caller).
    finally:
        if aside.is_dir() and not aside.is_symlink():
            shutil.rmtree(aside, ignore_errors=True)


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
            # The faster encoders run the verified export; making it needs torch once per model.
            self.export = shared_export()
            if self.export is None:
                progress.stage("exporting ONNX model")
                self.export = cached_export(self.index_dir, self._torch_encoder(), self.notices)
        if self.kind != "torch" and self.export is not None:
            return _export_encoder(self.kind, export_path(self.index_dir, self.export), self.notices)
        progress.stage("loading model")
        return self._torch_encoder()

    def final_export(self, progress: Stages) -> ExportRecord | None:
        """The export to record in the new manifest, made now if wanted and still missing."""
        if self.want_export and self.export is None:
            self.export = shared_export()
        if self.want_export and self.export is None:
            progress.stage("exporting ONNX model for fast queries")
            self.export = cached_export(self.index_dir, self._torch, self.notices)
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
