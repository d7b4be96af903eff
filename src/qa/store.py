"""The index directory: a self-describing, crash-safe store.

Layout of ``embeddings/``::

    CURRENT              name of the committed generation (replaced atomically)
    gen-000042/          one complete, immutable generation
        manifest.json    format and qa version, model, chunker settings, per-file hashes,
                         counts, and a sha256 + size for every data file below
        chunks.jsonl     one JSON object per chunk; line i is FAISS row i
        vectors.faiss    FAISS index of L2-normalised vectors searched by inner product
                         (so scores are cosine similarities)
        lexical/         BM25 index (bm25s: .npy with allow_pickle=False and JSON)
    models/              ONNX export of the model, shared by generations (see encoder_policy)
    .lock                held (flock) by the one writer; records its PID
    .qa-index            marker written when qa made the folder an index: qa deletes nothing
                         in a folder without it, and only its own names (gen-NNNNNN, .tmp-P-T)
    .tmp-*               a generation being written; removed by the next writer if left over

A writer builds a generation under ``.tmp-*``, fsyncs it, renames it to ``gen-N`` and only then
replaces ``CURRENT``. A reader that opens ``CURRENT`` therefore sees either the old or the new
generation, whole; a kill at any moment leaves the last committed one readable. The generation
before the current one is kept so a reader that raced a commit can still finish.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from qa import dense, disk, lexical
from qa._version import __version__
from qa.errors import (
    REBUILD_HINT,
    IndexCorruptError,
    IndexMismatchError,
    IndexMissingError,
    QAError,
    UnsafePathError,
)
from qa.records import Checksum, ChunkRecord, Manifest

if TYPE_CHECKING:
    import numpy as np

FORMAT_VERSION = 1
CURRENT = "CURRENT"
MANIFEST = "manifest.json"
CHUNKS = "chunks.jsonl"
VECTORS = "vectors.faiss"
LEXICAL = "lexical"
_GENERATION_NAME = re.compile(r"gen-\d{6}")
_STAGING_NAME = re.compile(r"\.tmp-\d+-\d+")


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def safe_relative_path(path: str) -> str:
    """``path`` if it is a plain relative path inside the corpus, else UnsafePathError. A
    backslash is an ordinary character in a POSIX file name (refusing it made such an index
    unopenable); resolve_in_corpus still checks where the path really leads."""
    pure = PurePosixPath(path)
    if not path or pure.is_absolute() or ".." in pure.parts or "\x00" in path:
        raise UnsafePathError(f"path {path!r} points outside the corpus: refusing it ({REBUILD_HINT})")
    return path


def resolve_in_corpus(corpus: Path, path: str) -> Path:
    """Absolute location of a document, refusing anything that escapes ``corpus``."""
    root = corpus.resolve()
    target = (root / safe_relative_path(path)).resolve()
    if not target.is_relative_to(root):
        raise UnsafePathError(f"{path!r} resolves outside the corpus {root}: refusing to open it")
    return target


# ---------------------------------------------------------------------------------------------
# Writing

def _write_faiss(path: Path, index: Any) -> Checksum:
    return disk.write_with(path, lambda write: dense.serialize(index, write))


def _write_lexical(directory: Path, texts: list[str]) -> dict[str, Checksum]:
    """The BM25 index in ``directory`` (new, inside the fresh staging folder: bm25s writes only
    there), every file fsynced; returns their checksums."""
    written = {}
    for item in lexical.save(directory, texts, make_dir=disk.fs.mkdir):
        with disk.naming(item), open(item, "rb") as handle:
            disk.fs.fsync(handle.fileno())
        written[f"{LEXICAL}/{item.name}"] = disk.checksum(item)
    return written


def _generations(index_dir: Path) -> list[Path]:
    return sorted(p for p in index_dir.glob("gen-*")
                  if _GENERATION_NAME.fullmatch(p.name) and p.is_dir() and not p.is_symlink())


def current_generation(index_dir: Path) -> Path | None:
    disk.require_folder(index_dir)
    try:
        name = (index_dir / CURRENT).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise IndexCorruptError(f"index corrupt: cannot read {index_dir / CURRENT}: {exc}; {REBUILD_HINT}") from exc
    if not name.startswith("gen-") or "/" in name or not (index_dir / name).is_dir():
        raise IndexCorruptError(f"index corrupt: {index_dir / CURRENT} names {name!r}, which is not a generation; {REBUILD_HINT}")
    return index_dir / name


def _chunk_lines(chunks: list[ChunkRecord]) -> Iterator[bytes]:
    """chunks.jsonl, line i = FAISS row i, yielded a few hundred lines at a time."""
    batch: list[str] = []
    for row, record in enumerate(chunks):
        batch.append(json.dumps(record.to_json(row), ensure_ascii=False))
        if len(batch) == 512:
            yield ("\n".join(batch) + "\n").encode("utf-8")
            batch.clear()
    if batch:
        yield ("\n".join(batch) + "\n").encode("utf-8")


def write_generation(
    index_dir: Path,
    chunks: list[ChunkRecord],
    vectors: np.ndarray,
    manifest: Manifest,
) -> Path:
    """Write a complete generation and switch CURRENT to it. Call while holding ``lock``.

    On any error the temporary directory is removed and the error re-raised with the path; the
    committed generation is untouched.
    """
    import numpy as np

    if len(chunks) != len(vectors):
        raise ValueError(f"{len(chunks)} chunks but {len(vectors)} vectors")
    claim(index_dir)
    tmp = index_dir / f".tmp-{os.getpid()}-{time.time_ns()}"
    previous = current_generation_safe(index_dir)
    number = max([int(p.name[4:]) for p in _generations(index_dir)] or [0]) + 1
    final = index_dir / f"gen-{number:06d}"
    try:
        disk.fs.mkdir(tmp)
        data_files: dict[str, Checksum] = {}
        data_files[CHUNKS] = disk.write_file(tmp / CHUNKS, _chunk_lines(chunks))
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        index = dense.build(vectors)
        data_files[VECTORS] = _write_faiss(tmp / VECTORS, index)
        data_files.update(_write_lexical(tmp / LEXICAL, [s.chunk.embedding_text() for s in chunks] or [""]))
        manifest = replace(
            manifest,
            format_version=FORMAT_VERSION,
            qa_version=__version__,
            created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            generation=final.name,
            counts={**manifest.counts, "chunks": len(chunks)},
            faiss=dense.describe(index),
            data_files=data_files,
        )
        disk.write_file(tmp / MANIFEST, json.dumps(manifest.to_json(), indent=2, ensure_ascii=False).encode("utf-8"))
        disk.fsync_dir(tmp)
        disk.fs.rename(tmp, final)
        disk.fsync_dir(index_dir)
        pointer = index_dir / f"{CURRENT}.tmp"
        pointer.unlink(missing_ok=True)  # a leftover (never a link: claim refuses those)
        disk.write_file(pointer, (final.name + "\n").encode())
        disk.fs.replace(pointer, index_dir / CURRENT)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if final.exists() and current_generation_safe(index_dir) != final:
            shutil.rmtree(final, ignore_errors=True)
        (index_dir / f"{CURRENT}.tmp").unlink(missing_ok=True)
        where = exc.filename or tmp
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        raise QAError(f"could not write the index at {where}: {reason}. The previous index is unchanged.") from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    # Committed: readers now see the new generation. Only its durability is left to settle.
    try:
        disk.fsync_dir(index_dir)
    except OSError as exc:
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        raise QAError(
            f"the new index is in place, but flushing {index_dir} to disk failed: {reason}. "
            "If the machine loses power before the disk catches up, the previous index may come back."
        ) from exc
    _prune(index_dir, keep={final, previous} - {None})
    return final


def current_generation_safe(index_dir: Path) -> Path | None:
    try:
        return current_generation(index_dir)
    except IndexCorruptError:
        return None


def _prune(index_dir: Path, keep: set[Path | None]) -> None:
    """Remove leftovers of killed writers and generations older than the previous one: only
    names qa gives (gen-NNNNNN, .tmp-PID-TIME), only real folders, only in a claimed folder."""
    if not disk.is_claimed(index_dir):
        return
    for item in index_dir.iterdir():
        ours = _STAGING_NAME.fullmatch(item.name) or (_GENERATION_NAME.fullmatch(item.name) and item not in keep)
        if ours and item.is_dir() and not item.is_symlink():
            shutil.rmtree(item, ignore_errors=True)
    pointer = index_dir / f"{CURRENT}.tmp"
    if pointer.is_file() and not pointer.is_symlink():
        pointer.unlink(missing_ok=True)


def claim(index_dir: Path) -> None:
    """Make sure ``index_dir`` is a folder qa may write in (see disk.claim)."""
    disk.claim(index_dir, _looks_like_old_index)


@contextlib.contextmanager
def lock(index_dir: Path) -> Iterator[None]:
    """Exclusive writer lock on ``index_dir``, claimed first (see disk.flock)."""
    claim(index_dir)
    with disk.flock(index_dir):
        yield


def _looks_like_old_index(index_dir: Path) -> bool:
    """An index written before the marker existed: CURRENT names a generation whose manifest
    has qa's format fields. Only then is a folder without the marker taken as qa's."""
    try:
        generation = current_generation(index_dir)
        if generation is None:
            return False
        # The raw JSON, not read_manifest: an index of another format version is still qa's.
        data = json.loads((generation / MANIFEST).read_text(encoding="utf-8"))
    except (QAError, OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return False
    return isinstance(data, dict) and "format_version" in data and "data_files" in data


# ---------------------------------------------------------------------------------------------
# Reading

@dataclass
class StoredIndex:
    """A committed generation, verified and loaded."""

    root: Path
    generation: Path
    manifest: Manifest
    chunks: list[ChunkRecord]
    faiss_index: Any
    _lexical: lexical.LexicalIndex | None = None

    @property
    def size(self) -> int:
        return len(self.chunks)

    def lexical(self) -> lexical.LexicalIndex:
        """The BM25 index (open_stored loads it eagerly, see there)."""
        if self._lexical is None:
            self._lexical = lexical.LexicalIndex.load(self.generation / LEXICAL)
        return self._lexical

    def vectors(self) -> np.ndarray:
        """All vectors, row i for chunk i (used to reuse vectors on update)."""
        return dense.vectors(self.faiss_index, self.manifest.model.dim)


_corrupt = IndexCorruptError.because


def read_manifest(generation: Path) -> Manifest:
    """The generation's manifest, checked field by field. A manifest of another format version
    is a mismatch (its fields may differ), not corruption."""
    try:
        data = json.loads((generation / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise _corrupt(f"{generation / MANIFEST} is missing") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise _corrupt(f"{generation / MANIFEST} is unreadable ({type(exc).__name__})") from exc
    if not isinstance(data, dict):
        raise _corrupt(f"{generation / MANIFEST} is not a JSON object")
    built_format = data.get("format_version")
    if built_format != FORMAT_VERSION:
        raise IndexMismatchError(
            f"index built with format version {built_format}, this qa reads {FORMAT_VERSION}: rebuild with `qa index --rebuild`"
        )
    return Manifest.from_json(data)


def check_compatible(manifest: Manifest, model_name: str) -> None:
    built_model = manifest.model.name
    if built_model != model_name:
        raise IndexMismatchError(
            f"index built with model {built_model}, configured {model_name}: rebuild with `qa index --rebuild`"
        )


def committed_manifest(index_dir: Path, model_name: str) -> Manifest | None:
    """The committed generation's manifest, or None when there is none usable (no index,
    a corrupt one, or one built with another model): callers then start afresh."""
    try:
        generation = current_generation(index_dir)
        if generation is None:
            return None
        manifest = read_manifest(generation)
        check_compatible(manifest, model_name)
    except QAError:
        return None
    return manifest


def _verify_files(generation: Path, manifest: Manifest) -> None:
    """Every data file has the size and sha256 the manifest records, checked before FAISS or
    numpy parse it: a truncated or flipped file must be an error, never a crash."""
    files = manifest.data_files
    if CHUNKS not in files or VECTORS not in files:
        raise _corrupt("manifest lists no data files")
    for name, expected in files.items():
        path = generation / safe_relative_path(name)
        try:
            size = path.stat().st_size
        except FileNotFoundError as exc:
            raise _corrupt(f"{path} is missing") from exc
        if size != expected.bytes:
            raise _corrupt(f"{path} has {size} bytes, the manifest says {expected.bytes}")
        if disk.checksum(path).sha256 != expected.sha256:
            raise _corrupt(f"{path} fails its checksum")


def open_stored(index_dir: Path, model_name: str, verify: bool = True) -> StoredIndex:
    """Load the committed generation of ``index_dir``.

    Raises IndexMissingError (no committed generation), IndexCorruptError or IndexMismatchError.
    """
    import numpy as np

    generation = current_generation(index_dir)
    if generation is None:
        raise IndexMissingError(f"no index in {index_dir} yet: run `qa index` to build it")
    manifest = read_manifest(generation)
    check_compatible(manifest, model_name)
    for path in manifest.files:
        safe_relative_path(path)
    if verify:
        _verify_files(generation, manifest)
    chunks: list[ChunkRecord] = []
    try:
        with open(generation / CHUNKS, encoding="utf-8") as handle:
            for row, line in enumerate(handle):
                record = ChunkRecord.from_json(json.loads(line), row)
                safe_relative_path(record.chunk.path)
                chunks.append(record)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise _corrupt(f"{generation / CHUNKS} is malformed ({type(exc).__name__}: {exc})") from exc
    faiss_index = dense.load(np.fromfile(generation / VECTORS, dtype=np.uint8), str(generation / VECTORS))
    if faiss_index.ntotal != len(chunks):
        raise _corrupt(f"{faiss_index.ntotal} vectors but {len(chunks)} chunks")
    if faiss_index.d != manifest.model.dim:
        raise _corrupt(f"vectors have dimension {faiss_index.d}, the model {manifest.model.dim}")
    stored = StoredIndex(index_dir, generation, manifest, chunks, faiss_index)
    # Loaded now, not on first use: two commits by another process prune this generation, and
    # an opened index must keep answering until it is closed.
    stored.lexical()
    return stored
