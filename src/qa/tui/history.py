"""Saved conversations: one human-readable JSON file per conversation in
``<user data>/conversations/``, rewritten after every answer, listed, reopened and deleted from
the command palette.

A file holds the questions and each answer as ``Answer.to_dict(explain=True)`` (what
``qa ask --json --explain`` prints), so a reopened answer shows its text, citations, conflicts
and explanation again. The files are read back as untrusted input: every field is type-checked,
and a file that is not one of ours is skipped, never deleted.
"""

from __future__ import annotations

import os
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qa.errors import QAError
from qa.tui.userdata import ensure_dir, is_regular_file, read_json, write_json
from qa.types import Answer, AnswerSpan, Citation, Conflict, Hit

FORMAT = "qa-conversation"
VERSION = 1
_NAME = re.compile(r"^\d{8}-\d{6}-[0-9a-f]{6}\.json$")


@dataclass(frozen=True)
class SavedExplanation:
    """An answer's explanation as it was saved (the dict of ``Explanation.to_dict``)."""

    data: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return self.data


@dataclass(frozen=True)
class Saved:
    """One saved conversation, as listed (``turns`` read only when it is opened)."""

    path: Path
    title: str
    updated: str  # local time, "YYYY-MM-DD HH:MM"
    corpus: str
    questions: int


class History:
    """The conversations folder. ``new_path`` names a conversation the chat then owns: it may
    rewrite that file (and only files it listed as its own) from then on."""

    def __init__(self, data_dir: Path) -> None:
        self.folder = data_dir / "conversations"

    def new_path(self) -> Path:
        return self.folder / f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}.json"

    def save(self, path: Path, corpus: str, turns: list[tuple[str, Answer]], *, replace: bool) -> None:
        """Write the conversation (QAError when it cannot be written)."""
        ensure_dir(self.folder)
        now = time.strftime("%Y-%m-%d %H:%M")
        record = {"format": FORMAT, "version": VERSION, "title": turns[0][0] if turns else "",
                  "updated": now, "corpus": corpus,
                  "turns": [{"question": q, "answer": a.to_dict(explain=True)} for q, a in turns]}
        try:
            write_json(path, record, replace=replace)
        except FileExistsError as exc:
            raise QAError(f"{path} already exists: qa will not overwrite a file it did not create") from exc

    def saved(self) -> list[Saved]:
        """The saved conversations, newest first; files that are not ours are left out."""
        try:
            names = sorted((n for n in os.listdir(self.folder) if _NAME.match(n)), reverse=True)
        except OSError:
            return []
        found = []
        for name in names:
            path = self.folder / name
            if not is_regular_file(path):
                continue
            try:
                record = _record(path)
            except QAError:
                continue
            found.append(Saved(path, _text(record, "title"), _text(record, "updated"),
                               _text(record, "corpus"), len(record["turns"])))
        return found

    def load(self, path: Path) -> list[tuple[str, Answer]]:
        """The turns of a saved conversation (QAError naming what is wrong with the file)."""
        record = _record(path)
        turns = []
        for i, turn in enumerate(record["turns"], start=1):
            where = f"{path.name}, turn {i}"
            if not isinstance(turn, dict) or not isinstance(turn.get("question"), str):
                raise QAError(f"{where}: not a question and answer")
            turns.append((turn["question"], answer_from_dict(turn.get("answer"), where)))
        return turns

    def delete(self, path: Path) -> None:
        """Delete a saved conversation: only a plain file of ours in the folder."""
        if path.parent != self.folder or not _NAME.match(path.name) or not is_regular_file(path):
            raise QAError(f"{path} is not a saved conversation: not deleted")
        _record(path)  # refuses a file that is not one of ours
        try:
            os.unlink(path)
        except OSError as exc:
            raise QAError(f"cannot delete {path}: {exc.strerror or exc}") from exc


def _record(path: Path) -> dict[str, Any]:
    data = read_json(path)
    if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("turns"), list):
        raise QAError(f"{path} is not a saved qa conversation")
    return data


def _text(record: dict[str, Any], key: str) -> str:
    value = record.get(key)
    return value if isinstance(value, str) else ""


def _fields(cls: type, data: Any, where: str, optional: dict[str, Any] | None = None) -> Any:
    """A frozen dataclass from a dict, each field checked against the type its default (or the
    annotation's first type) implies: wrong data is a QAError, never a crash later."""
    if not isinstance(data, dict):
        raise QAError(f"{where}: expected an object")
    kinds: dict[str, type | tuple[type, ...]] = {"str": str, "int": int, "float": (int, float), "bool": bool}
    values: dict[str, Any] = {}
    for name, annotation in cls.__annotations__.items():
        text = str(annotation).replace(" ", "")
        value = data.get(name, (optional or {}).get(name, ...))
        if value is ...:
            raise QAError(f"{where}: {name} is missing")
        nullable = text.endswith("|None")
        base = text.removesuffix("|None")
        if value is None and nullable:
            values[name] = None
            continue
        if base.startswith("tuple["):
            item = kinds.get(base.removeprefix("tuple[").split(",")[0], object)
            if not isinstance(value, list) or not all(isinstance(v, item) for v in value):
                raise QAError(f"{where}: {name} is not a list of the right kind")
            value = tuple(value)
        elif base in kinds and (not isinstance(value, kinds[base]) or (base != "bool" and isinstance(value, bool))):
            raise QAError(f"{where}: {name} is not a {base}")
        values[name] = float(value) if base == "float" else value
    return cls(**values)


def answer_from_dict(data: Any, where: str) -> Answer:
    """An Answer from ``Answer.to_dict(explain=True)``. Its fingerprint is not restored (it
    describes the index it was computed on, which may have changed since)."""
    if not isinstance(data, dict):
        raise QAError(f"{where}: the answer is not an object")
    for key in ("citations", "passages", "conflicts"):
        if not isinstance(data.get(key, []), list):
            raise QAError(f"{where}: {key} is not a list")
    citations = tuple(_fields(Citation, c, f"{where}, citation", {"page": None}) for c in data.get("citations", []))
    passages = tuple(_fields(Hit, h, f"{where}, passage", {"page": None, "dense_score": None, "lexical_score": None})
                     for h in data.get("passages", []))
    conflicts = tuple(_fields(Conflict, c, f"{where}, conflict") for c in data.get("conflicts", []))
    span = data.get("answer_span")
    explain = data.get("explain")
    for name, kind in (("question", str), ("answer", str), ("grounded", bool), ("confidence", (int, float))):
        if not isinstance(data.get(name), kind):
            raise QAError(f"{where}: {name} is missing or not of the right kind")
    assumption = data.get("assumption")
    return Answer(
        question=data["question"], text=data["answer"], grounded=data["grounded"],
        citations=citations, passages=passages, confidence=float(data["confidence"]),
        assumption=assumption if isinstance(assumption, str) else None,
        answer_span=_fields(AnswerSpan, span, f"{where}, answer span", {"citation": 1}) if span is not None else None,
        conflicts=conflicts,
        explain=SavedExplanation(explain) if isinstance(explain, dict) else None,
    )
