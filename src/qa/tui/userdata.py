"""The chat's own files: the user data folder (``$XDG_DATA_HOME/qa``, default
``~/.local/share/qa``), the settings file in it, and the one way the chat writes a file.

Like the rest of qa, the chat never writes through a symbolic link and never replaces a file it
did not create: a new file is created exclusively (O_EXCL | O_NOFOLLOW); a file it wrote before
is replaced by writing a fresh temporary file beside it and renaming it over (a rename replaces
the name, never what a link points at), so a reader never sees half a file.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import stat
from pathlib import Path
from typing import Any

from qa.errors import QAError
from qa.safety import safe_json

CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
SETTINGS = "tui-settings.json"


def user_data_dir() -> Path:
    """``$XDG_DATA_HOME/qa``, or ``~/.local/share/qa`` when the variable is unset or relative
    (the XDG spec says to ignore a relative one)."""
    base = os.environ.get("XDG_DATA_HOME", "")
    root = Path(base) if base and os.path.isabs(base) else Path.home() / ".local" / "share"
    return root / "qa"


def _reason(exc: OSError) -> str:
    return os.strerror(exc.errno) if exc.errno else str(exc)


def ensure_dir(path: Path) -> Path:
    """``path`` as a real folder (made, private, when missing). A symbolic link in its place is
    refused: the chat's files would land wherever the link points."""
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        if stat.S_ISLNK(os.lstat(path).st_mode):
            raise QAError(f"{path} is a symbolic link: qa never writes through links; remove it")
    except OSError as exc:
        raise QAError(f"cannot create the folder {path}: {_reason(exc)}") from exc
    return path


def _write_new(path: Path, data: bytes) -> None:
    fd = os.open(path, CREATE, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)


def is_regular_file(path: Path) -> bool:
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def write_file(path: Path, data: bytes, *, replace: bool = False) -> None:
    """Write ``path``: created exclusively, or (``replace``: the caller created it before)
    replaced atomically. Raises QAError with the reason, and FileExistsError when ``path``
    exists and may not be replaced."""
    try:
        if not replace:
            _write_new(path, data)
            return
        if (path.exists() or path.is_symlink()) and not is_regular_file(path):
            raise QAError(f"{path} is no longer a plain file: qa will not replace it")
        temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        _write_new(temporary, data)
        try:
            os.replace(temporary, path)
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
    except FileExistsError:
        raise
    except OSError as exc:
        raise QAError(f"cannot write {path}: {_reason(exc)}") from exc


def write_json(path: Path, data: Any, *, replace: bool = False) -> None:
    write_file(path, (safe_json(data) + "\n").encode("utf-8"), replace=replace)


def read_json(path: Path, limit: int = 16 << 20) -> Any:
    """A JSON file the chat wrote (QAError when it is unreadable, too big or not JSON). Opened
    without following a link: a planted link cannot make the chat read another file."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as handle:
            raw = handle.read(limit + 1)
    except OSError as exc:
        raise QAError(f"cannot read {path}: {_reason(exc)}") from exc
    if len(raw) > limit:
        raise QAError(f"{path} is larger than {limit >> 20} MiB: not a file the chat wrote")
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise QAError(f"{path} is not valid JSON ({exc})") from exc


class UserSettings:
    """The chat's remembered choices (today: the theme), in ``SETTINGS`` in the data folder."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / SETTINGS
        self.values: dict[str, Any] = {}
        self.problem: str | None = None  # why the file could not be read, to show once

    def load(self) -> UserSettings:
        if not (self.path.exists() or self.path.is_symlink()):
            return self
        try:
            data = read_json(self.path)
        except QAError as exc:
            self.problem = f"settings not loaded: {exc}"
            return self
        if isinstance(data, dict):
            self.values = {k: v for k, v in data.items() if isinstance(k, str)}
        else:
            self.problem = f"settings not loaded: {self.path} is not a JSON object"
        return self

    def get_str(self, key: str) -> str | None:
        value = self.values.get(key)
        return value if isinstance(value, str) else None

    def set(self, key: str, value: Any) -> None:
        """Remember ``key``; raises QAError when the file cannot be written."""
        self.values[key] = value
        ensure_dir(self.path.parent)
        exists = self.path.exists() or self.path.is_symlink()
        write_json(self.path, self.values, replace=exists)
