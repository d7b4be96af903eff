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
    models/              ONNX export of the model, shared by generations (sha256 in manifest)
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
import errno
import fcntl
import functools
import hashlib
import json
import os
import re
import shutil
import stat
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from qa import __version__
from qa.errors import (
    ConfigError,
    IndexCorruptError,
    IndexLockedError,
    IndexMismatchError,
    IndexMissingError,
    QAError,
    UnsafePathError,
)
from qa.types import Chunk

if TYPE_CHECKING:
    import numpy as np

FORMAT_VERSION = 1
CURRENT = "CURRENT"
MANIFEST = "manifest.json"
CHUNKS = "chunks.jsonl"
VECTORS = "vectors.faiss"
LEXICAL = "lexical"
MODELS_DIR = "models"
MARKER = ".qa-index"
LOCK = ".lock"
_GENERATION_NAME = re.compile(r"gen-\d{6}")
_STAGING_NAME = re.compile(r"\.tmp-\d+-\d+")
# Above this many chunks an exact scan costs more than the rest of a query (18 ms at 100k, 175 ms
# at 1M here), so the index becomes IVF: 4·sqrt(N) k-means lists, IVF_NPROBE of them searched.
# Measured by bench/query_latency.py: recall@10 against exact 0.975 at 100k, 0.988 at 1M and
# 0.976 on SciFact's real vectors, in under 2 ms (32 probes gave 0.947 on the real vectors);
# building takes 5 s at 100k and about a minute at 1M. HNSW reached the same recall but took
# twice as long to build, and the whole index is rebuilt on every update.
ANN_THRESHOLD = 50_000
IVF_NPROBE = 64
IVF_MIN_POINTS_PER_LIST = 39  # below this FAISS's k-means has too little to go on
IVF_TRAINING_POINTS_PER_LIST = 40

REBUILD_HINT = "run `qa index --rebuild`"


@dataclass(frozen=True)
class StoredChunk:
    """A chunk as kept in the store, with the hash that lets an update reuse its vector."""

    chunk: Chunk
    text_hash: str


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

@contextlib.contextmanager
def _naming(path: Path) -> Iterator[None]:
    """OSError from fd-level calls (fsync) carries no file name; give it the path."""
    try:
        yield
    except OSError as exc:
        if not isinstance(exc.filename, str):
            raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from exc
        raise


class FileSystem:
    """Every call by which the store changes the disk goes through ``fs``, an instance of this:
    the fault-injection seam (tests swap in one that fails the Nth call with ENOSPC, EIO or
    EROFS). Files are created exclusively and never through a symbolic link: a planted link at
    a staging name makes the open fail instead of overwriting the link's target."""

    CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC

    def create(self, path: Path) -> int:
        return os.open(path, self.CREATE, 0o644)

    def write(self, fd: int, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]

    def fsync(self, fd: int) -> None:
        os.fsync(fd)

    def mkdir(self, path: Path) -> None:
        os.mkdir(path, 0o755)

    def rename(self, source: Path, target: Path) -> None:
        os.rename(source, target)

    def replace(self, source: Path, target: Path) -> None:
        os.replace(source, target)


fs = FileSystem()


def _fsync_dir(path: Path) -> None:
    with _naming(path):
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        try:
            fs.fsync(fd)
        finally:
            os.close(fd)


def _write_with(path: Path, produce: Callable[[Callable[[bytes], None]], None]) -> dict[str, Any]:
    """Create ``path`` (exclusively, never through a link), let ``produce`` write it piece by
    piece, fsync it, and return its checksum record. Pieces go straight to the file: a large
    file is never held whole in memory."""
    digest = hashlib.sha256()
    size = 0
    with _naming(path):
        fd = fs.create(path)
        try:
            def write(piece: bytes) -> None:
                nonlocal size
                fs.write(fd, piece)
                digest.update(piece)
                size += len(piece)

            produce(write)
            fs.fsync(fd)
        finally:
            os.close(fd)
    return {"sha256": digest.hexdigest(), "bytes": size}


def _write_file(path: Path, data: bytes | Iterable[bytes]) -> dict[str, Any]:
    def produce(write: Callable[[bytes], None]) -> None:
        for piece in [data] if isinstance(data, bytes) else data:
            write(piece)

    return _write_with(path, produce)


def _write_faiss(path: Path, index: Any) -> dict[str, Any]:
    """The FAISS index written through a callback: serialize_index would first copy every
    vector into one more array."""
    import faiss

    faiss_io: Any = faiss  # PyCallbackIOWriter is missing from FAISS's type stubs

    def produce(write: Callable[[bytes], None]) -> None:
        failures: list[BaseException] = []

        def callback(piece: bytes) -> None:
            try:
                write(piece)
            except BaseException as exc:  # FAISS turns it into a RuntimeError: keep the original
                failures.append(exc)
                raise

        try:
            faiss_io.write_index(index, faiss_io.PyCallbackIOWriter(callback))
        except RuntimeError:
            if failures:
                raise failures[0] from None
            raise

    return _write_with(path, produce)


def checksum(path: Path) -> dict[str, Any]:
    """sha256 and size of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
            size += len(block)
    return {"sha256": digest.hexdigest(), "bytes": size}


def build_faiss(vectors: np.ndarray, ann_threshold: int | None = None) -> Any:
    """Exact inner-product index, or IVF above ``ann_threshold`` (default ANN_THRESHOLD) rows.
    Vectors are normalised, so inner product is cosine similarity."""
    import faiss
    import numpy as np

    size, dim = vectors.shape
    threshold = ANN_THRESHOLD if ann_threshold is None else ann_threshold
    if size <= threshold:
        index = faiss.IndexFlatIP(dim)
        if size:
            index.add(vectors)
        return index
    nlist = max(1, min(int(4 * size**0.5), size // IVF_MIN_POINTS_PER_LIST))
    quantizer = faiss.IndexFlatIP(dim)
    ivf = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
    # A fixed sample keeps builds reproducible and training time bounded at any size.
    sample_size = min(size, nlist * IVF_TRAINING_POINTS_PER_LIST)
    sample = vectors[np.sort(np.random.default_rng(0).choice(size, sample_size, replace=False))]
    ivf.train(sample)
    ivf.add(vectors)
    ivf.nprobe = min(IVF_NPROBE, nlist)
    ivf.make_direct_map()  # reconstruct(row): hybrid scoring and vector reuse on update need it
    return ivf


@functools.cache
def _stemmer() -> Any:
    import Stemmer

    return Stemmer.Stemmer("english")


def _lexical_tokens(texts: list[str]) -> list[list[str]]:
    """Stemmed, stop-word-free tokens: the same analysis for the index, queries and answers."""
    import bm25s

    return bm25s.tokenize(texts, stopwords="en", stemmer=_stemmer(), return_ids=False,
                          show_progress=False)


def lexical_query_tokens(text: str) -> list[str]:
    return _lexical_tokens([text])[0]


def _write_lexical(directory: Path, texts: list[str]) -> None:
    import bm25s

    fs.mkdir(directory)  # new, inside the fresh staging folder: bm25s writes only there
    tokens = _lexical_tokens(texts)
    retriever = bm25s.BM25()
    retriever.index(tokens, show_progress=False)
    retriever.save(str(directory), allow_pickle=False, show_progress=False)
    for item in directory.iterdir():
        with _naming(item), open(item, "rb") as handle:
            fs.fsync(handle.fileno())


def _generations(index_dir: Path) -> list[Path]:
    return sorted(p for p in index_dir.glob("gen-*")
                  if _GENERATION_NAME.fullmatch(p.name) and p.is_dir() and not p.is_symlink())


def _require_folder(index_dir: Path) -> None:
    if index_dir.exists() and not index_dir.is_dir():
        raise ConfigError(f"the index folder {index_dir} is a file, not a folder: give --index-dir a folder")


def current_generation(index_dir: Path) -> Path | None:
    _require_folder(index_dir)
    try:
        name = (index_dir / CURRENT).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise IndexCorruptError(f"index corrupt: cannot read {index_dir / CURRENT}: {exc}; {REBUILD_HINT}") from exc
    if not name.startswith("gen-") or "/" in name or not (index_dir / name).is_dir():
        raise IndexCorruptError(f"index corrupt: {index_dir / CURRENT} names {name!r}, which is not a generation; {REBUILD_HINT}")
    return index_dir / name


def _chunk_lines(chunks: list[StoredChunk]) -> Iterator[bytes]:
    """chunks.jsonl, line i = FAISS row i, yielded a few hundred lines at a time."""
    batch: list[str] = []
    for row, stored in enumerate(chunks):
        c = stored.chunk
        batch.append(json.dumps({
            "id": row, "path": c.path, "title": c.title, "heading_path": list(c.heading_path),
            "start_char": c.start_char, "end_char": c.end_char, "start_line": c.start_line,
            "end_line": c.end_line, "page": c.page, "hash": stored.text_hash, "text": c.text,
        }, ensure_ascii=False))
        if len(batch) == 512:
            yield ("\n".join(batch) + "\n").encode("utf-8")
            batch.clear()
    if batch:
        yield ("\n".join(batch) + "\n").encode("utf-8")


def write_generation(
    index_dir: Path,
    chunks: list[StoredChunk],
    vectors: np.ndarray,
    manifest: dict[str, Any],
) -> Path:
    """Write a complete generation and switch CURRENT to it. Call while holding ``lock``.

    On any error the temporary directory is removed and the error re-raised with the path; the
    committed generation is untouched.
    """
    import faiss
    import numpy as np

    if len(chunks) != len(vectors):
        raise ValueError(f"{len(chunks)} chunks but {len(vectors)} vectors")
    claim(index_dir)
    tmp = index_dir / f".tmp-{os.getpid()}-{time.time_ns()}"
    previous = current_generation_safe(index_dir)
    number = max([int(p.name[4:]) for p in _generations(index_dir)] or [0]) + 1
    final = index_dir / f"gen-{number:06d}"
    try:
        fs.mkdir(tmp)
        data_files: dict[str, Any] = {}
        data_files[CHUNKS] = _write_file(tmp / CHUNKS, _chunk_lines(chunks))
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        index = build_faiss(vectors)
        data_files[VECTORS] = _write_faiss(tmp / VECTORS, index)
        _write_lexical(tmp / LEXICAL, [s.chunk.embedding_text() for s in chunks] or [""])
        for item in sorted((tmp / LEXICAL).iterdir()):
            data_files[f"{LEXICAL}/{item.name}"] = checksum(item)
        manifest = {
            **manifest,
            "format_version": FORMAT_VERSION,
            "qa_version": __version__,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "generation": final.name,
            "counts": {**manifest.get("counts", {}), "chunks": len(chunks)},
            "faiss": {"type": type(index).__name__, "metric": "inner_product", "version": faiss.__version__},
            "data_files": data_files,
        }
        _write_file(tmp / MANIFEST, json.dumps(manifest, indent=2, ensure_ascii=False).encode("utf-8"))
        _fsync_dir(tmp)
        fs.rename(tmp, final)
        _fsync_dir(index_dir)
        pointer = index_dir / f"{CURRENT}.tmp"
        pointer.unlink(missing_ok=True)  # a leftover (never a link: claim refuses those)
        _write_file(pointer, (final.name + "\n").encode())
        fs.replace(pointer, index_dir / CURRENT)
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
        _fsync_dir(index_dir)
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
    if not is_claimed(index_dir):
        return
    for item in index_dir.iterdir():
        ours = _STAGING_NAME.fullmatch(item.name) or (_GENERATION_NAME.fullmatch(item.name) and item not in keep)
        if ours and item.is_dir() and not item.is_symlink():
            shutil.rmtree(item, ignore_errors=True)
    pointer = index_dir / f"{CURRENT}.tmp"
    if pointer.is_file() and not pointer.is_symlink():
        pointer.unlink(missing_ok=True)


def is_claimed(index_dir: Path) -> bool:
    try:
        return stat.S_ISREG(os.lstat(index_dir / MARKER).st_mode)
    except OSError:
        return False


def _looks_like_old_index(index_dir: Path) -> bool:
    """An index written before the marker existed: CURRENT names a generation whose manifest
    has qa's format fields. Only then is a folder without the marker taken as qa's."""
    try:
        generation = current_generation(index_dir)
        manifest = read_manifest(generation) if generation else {}
    except QAError:
        return False
    return "format_version" in manifest and "data_files" in manifest


def _io_error(what: str, exc: OSError) -> QAError:
    reason = os.strerror(exc.errno) if exc.errno else str(exc)
    return QAError(f"cannot {what}: {reason}. Nothing was written.")


def claim(index_dir: Path) -> None:
    """Make sure ``index_dir`` is a folder qa may write in, making it one when new or empty.

    Refuses (ConfigError) a file, a non-empty folder that is not a qa index, and any symbolic
    link inside the folder; disk errors (read-only, full) become one-line QAErrors.
    """
    _require_folder(index_dir)
    try:
        index_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _io_error(f"create the index folder {index_dir}", exc) from exc
    try:
        entries = list(os.scandir(index_dir))
    except OSError as exc:
        raise _io_error(f"read the index folder {index_dir}", exc) from exc
    links = [entry.name for entry in entries if entry.is_symlink()]
    if links:
        raise ConfigError(
            f"{index_dir / links[0]} is a symbolic link inside the index folder: qa never writes "
            "through links; remove it")
    if is_claimed(index_dir):
        return
    # A lone .lock is what an older qa left when its first build failed before committing.
    if {entry.name for entry in entries} - {LOCK} and not _looks_like_old_index(index_dir):
        raise ConfigError(
            f"{index_dir} is not empty and is not a qa index: choose an empty or new folder for "
            "--index-dir (qa never deletes or overwrites files it did not create)")
    try:
        _write_file(index_dir / MARKER, f"qa index folder (qa {__version__})\n".encode())
    except FileExistsError:
        pass  # another writer claimed it a moment ago
    except OSError as exc:
        raise _io_error(f"write in the index folder {index_dir}", exc) from exc


@contextlib.contextmanager
def lock(index_dir: Path) -> Iterator[None]:
    """Exclusive writer lock. flock is released by the kernel when its holder dies, so a lock
    left by a killed process is simply taken over; the PID in the file names a live holder."""
    claim(index_dir)
    path = index_dir / LOCK
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise _io_error(f"create the lock file {path}", exc) from exc
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            raise IndexLockedError(
                f"another `qa index` (PID {holder}) is writing {index_dir}; wait for it to finish"
            ) from exc
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        except OSError as exc:
            raise _io_error(f"write the lock file {path}", exc) from exc
        yield
    finally:
        os.close(fd)


# ---------------------------------------------------------------------------------------------
# Reading

@dataclass
class StoredIndex:
    """A committed generation, verified and loaded."""

    root: Path
    generation: Path
    manifest: dict[str, Any]
    chunks: list[StoredChunk]
    faiss_index: Any
    _lexical: Any = None

    @property
    def size(self) -> int:
        return len(self.chunks)

    def lexical(self) -> Any:
        """The BM25 index (open_stored loads it eagerly, see there)."""
        if self._lexical is None:
            import bm25s

            self._lexical = bm25s.BM25.load(str(self.generation / LEXICAL), allow_pickle=False,
                                            load_corpus=False, show_progress=False)
        return self._lexical

    def vectors(self) -> np.ndarray:
        """All vectors, row i for chunk i (used to reuse vectors on update)."""
        import numpy as np

        if self.faiss_index.ntotal == 0:
            return np.zeros((0, self.manifest["model"]["dim"]), dtype=np.float32)
        return self.faiss_index.reconstruct_n(0, self.faiss_index.ntotal)

    @property
    def onnx_path(self) -> Path | None:
        info = self.manifest.get("onnx")
        return self.root / MODELS_DIR / info["file"] if info else None


def export_intact(index_dir: Path, info: dict[str, Any]) -> bool:
    """Whether the ONNX export a manifest records is in ``models/`` with the recorded sha256."""
    path = index_dir / MODELS_DIR / info["file"]
    return path.is_file() and checksum(path)["sha256"] == info["sha256"]


def _corrupt(what: str) -> IndexCorruptError:
    return IndexCorruptError(f"index corrupt: {what}; {REBUILD_HINT}")


def read_manifest(generation: Path) -> dict[str, Any]:
    try:
        manifest = json.loads((generation / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise _corrupt(f"{generation / MANIFEST} is missing") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise _corrupt(f"{generation / MANIFEST} is unreadable ({type(exc).__name__})") from exc
    if not isinstance(manifest, dict):
        raise _corrupt(f"{generation / MANIFEST} is not a JSON object")
    return manifest


def check_compatible(manifest: dict[str, Any], model_name: str) -> None:
    built_format = manifest.get("format_version")
    if built_format != FORMAT_VERSION:
        raise IndexMismatchError(
            f"index built with format version {built_format}, this qa reads {FORMAT_VERSION}: rebuild with `qa index --rebuild`"
        )
    built_model = (manifest.get("model") or {}).get("name")
    if built_model != model_name:
        raise IndexMismatchError(
            f"index built with model {built_model}, configured {model_name}: rebuild with `qa index --rebuild`"
        )


def _verify_files(generation: Path, manifest: dict[str, Any]) -> None:
    """Every data file has the size and sha256 the manifest records, checked before FAISS or
    numpy parse it: a truncated or flipped file must be an error, never a crash."""
    files = manifest.get("data_files")
    if not isinstance(files, dict) or CHUNKS not in files or VECTORS not in files:
        raise _corrupt("manifest lists no data files")
    for name, expected in files.items():
        path = generation / safe_relative_path(name)
        try:
            size = path.stat().st_size
        except FileNotFoundError as exc:
            raise _corrupt(f"{path} is missing") from exc
        if size != expected.get("bytes"):
            raise _corrupt(f"{path} has {size} bytes, the manifest says {expected.get('bytes')}")
        if checksum(path)["sha256"] != expected.get("sha256"):
            raise _corrupt(f"{path} fails its checksum")


def open_stored(index_dir: Path, model_name: str, verify: bool = True) -> StoredIndex:
    """Load the committed generation of ``index_dir``.

    Raises IndexMissingError (no committed generation), IndexCorruptError or IndexMismatchError.
    """
    import faiss
    import numpy as np

    generation = current_generation(index_dir)
    if generation is None:
        raise IndexMissingError(f"no index in {index_dir} yet: run `qa index` to build it")
    manifest = read_manifest(generation)
    check_compatible(manifest, model_name)
    for path in manifest.get("files", {}):
        safe_relative_path(path)
    if verify:
        _verify_files(generation, manifest)
    chunks: list[StoredChunk] = []
    try:
        with open(generation / CHUNKS, encoding="utf-8") as handle:
            for row, line in enumerate(handle):
                record = json.loads(line)
                if record["id"] != row:
                    raise _corrupt(f"chunk record {row} has id {record['id']}")
                chunks.append(StoredChunk(
                    Chunk(
                        path=safe_relative_path(record["path"]), title=record["title"],
                        heading_path=tuple(record["heading_path"]), text=record["text"],
                        start_char=record["start_char"], end_char=record["end_char"],
                        start_line=record["start_line"], end_line=record["end_line"],
                        page=record["page"],
                    ),
                    record["hash"],
                ))
    except (json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError, RecursionError) as exc:
        raise _corrupt(f"{generation / CHUNKS} is malformed ({type(exc).__name__}: {exc})") from exc
    raw = np.fromfile(generation / VECTORS, dtype=np.uint8)
    try:
        faiss_index = faiss.deserialize_index(raw)
    except RuntimeError as exc:
        raise _corrupt(f"{generation / VECTORS} cannot be read by FAISS ({exc})") from exc
    if faiss_index.ntotal != len(chunks):
        raise _corrupt(f"{faiss_index.ntotal} vectors but {len(chunks)} chunks")
    if faiss_index.d != manifest["model"]["dim"]:
        raise _corrupt(f"vectors have dimension {faiss_index.d}, the model {manifest['model']['dim']}")
    stored = StoredIndex(index_dir, generation, manifest, chunks, faiss_index)
    # Loaded now, not on first use: two commits by another process prune this generation, and
    # an opened index must keep answering until it is closed.
    stored.lexical()
    return stored
