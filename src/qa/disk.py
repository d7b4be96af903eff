"""The index folder on disk: the one seam every store write goes through, durable files, and
the rules for which folder qa may write in.

qa writes only in a folder it can prove is its own: new or empty (then it writes the
``.qa-index`` marker), marked, or an index from before the marker. Every file is created
exclusively and never through a symbolic link; disk errors become one-line QAErrors.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import stat
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from qa._version import __version__
from qa.errors import ConfigError, IndexLockedError, QAError
from qa.records import Checksum

MARKER = ".qa-index"
LOCK = ".lock"


@contextlib.contextmanager
def naming(path: Path) -> Iterator[None]:
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


def fsync_dir(path: Path) -> None:
    with naming(path):
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        try:
            fs.fsync(fd)
        finally:
            os.close(fd)


def write_with(path: Path, produce: Callable[[Callable[[bytes], None]], None]) -> Checksum:
    """Create ``path`` (exclusively, never through a link), let ``produce`` write it piece by
    piece, fsync it, and return its checksum record. Pieces go straight to the file: a large
    file is never held whole in memory."""
    digest = hashlib.sha256()
    size = 0
    with naming(path):
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
    return Checksum(digest.hexdigest(), size)


def write_file(path: Path, data: bytes | Iterable[bytes]) -> Checksum:
    def produce(write: Callable[[bytes], None]) -> None:
        for piece in [data] if isinstance(data, bytes) else data:
            write(piece)

    return write_with(path, produce)


def checksum(path: Path) -> Checksum:
    """sha256 and size of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
            size += len(block)
    return Checksum(digest.hexdigest(), size)


def require_folder(index_dir: Path) -> None:
    if index_dir.exists() and not index_dir.is_dir():
        raise ConfigError(f"the index folder {index_dir} is a file, not a folder: give --index-dir a folder")


def is_claimed(index_dir: Path) -> bool:
    try:
        return stat.S_ISREG(os.lstat(index_dir / MARKER).st_mode)
    except OSError:
        return False


def io_error(what: str, exc: OSError) -> QAError:
    reason = os.strerror(exc.errno) if exc.errno else str(exc)
    return QAError(f"cannot {what}: {reason}. Nothing was written.")


def claim(index_dir: Path, is_old_index: Callable[[Path], bool]) -> None:
    """Make sure ``index_dir`` is a folder qa may write in, making it one when new or empty.

    Refuses (ConfigError) a file, a non-empty folder that is not a qa index, and any symbolic
    link inside the folder; disk errors (read-only, full) become one-line QAErrors.
    ``is_old_index`` recognises an index written before the marker existed (the store knows
    its layout).
    """
    require_folder(index_dir)
    try:
        index_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise io_error(f"create the index folder {index_dir}", exc) from exc
    try:
        entries = list(os.scandir(index_dir))
    except OSError as exc:
        raise io_error(f"read the index folder {index_dir}", exc) from exc
    links = [entry.name for entry in entries if entry.is_symlink()]
    if links:
        raise ConfigError(
            f"{index_dir / links[0]} is a symbolic link inside the index folder: qa never writes "
            "through links; remove it")
    if is_claimed(index_dir):
        return
    # A lone .lock is what an older qa left when its first build failed before committing.
    if {entry.name for entry in entries} - {LOCK} and not is_old_index(index_dir):
        raise ConfigError(
            f"{index_dir} is not empty and is not a qa index: choose an empty or new folder for "
            "--index-dir (qa never deletes or overwrites files it did not create)")
    try:
        write_file(index_dir / MARKER, f"qa index folder (qa {__version__})\n".encode())
    except FileExistsError:
        pass  # another writer claimed it a moment ago
    except OSError as exc:
        raise io_error(f"write in the index folder {index_dir}", exc) from exc


@contextlib.contextmanager
def flock(index_dir: Path) -> Iterator[None]:
    """Exclusive writer lock on a claimed ``index_dir``. flock is released by the kernel when
    its holder dies, so a lock left by a killed process is simply taken over; the PID in the
    file names a live holder."""
    path = index_dir / LOCK
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise io_error(f"create the lock file {path}", exc) from exc
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
            raise io_error(f"write the lock file {path}", exc) from exc
        yield
    finally:
        os.close(fd)
