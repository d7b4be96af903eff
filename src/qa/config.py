"""Settings, resolved once: command-line flags > QA_* environment variables > config file >
defaults.

The config file is TOML: ``$QA_CONFIG`` if set, else ``./qa.toml``, else
``~/.config/qa/config.toml``. Keys: ``corpus``, ``index_dir``, ``mode``, ``k``, ``encoder``,
``cluster``.
Relative paths in a config file are relative to that file's folder; relative paths from flags
and variables are relative to the current directory. Without an ``index_dir`` the index goes
where ``qa.locations.index_dir_for`` says: ``embeddings/`` for ``./corpus``, else a cache
folder of that corpus's own.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qa.errors import ConfigError
from qa.locations import index_dir_for

MODES = ("hybrid", "dense", "lexical")
ENCODERS = ("auto", "onnx", "torch")  # for queries
# For embedding chunks. "auto" is OpenVINO when the package is installed (2.4x torch on SciFact
# chunks, same retrieval quality: see README "Performance"), else torch.
INDEX_ENCODERS = ("auto", "openvino", "onnx", "torch")
MAX_K = 1000


@dataclass(frozen=True)
class Settings:
    corpus: Path = Path("corpus")
    # None: the corpus's own index folder (locations.index_dir_for), filled in at construction.
    index_dir: Path = None  # type: ignore[assignment]
    mode: str = "hybrid"
    k: int = 5
    # Query-time encoder: "auto" uses the verified ONNX export when present, else torch.
    encoder: str = "auto"
    # The Ray address a sharded index is served on (qa[cluster]); None: ``local`` for a sharded
    # index, and a single index is opened as one.
    cluster: str | None = None
    # The settings given by a flag, a variable or the config file (the rest are defaults).
    given: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if self.index_dir is None:
            object.__setattr__(self, "index_dir", index_dir_for(self.corpus))
        check_mode(self.mode)
        check_encoder(self.encoder)
        check_k(self.k)

    @property
    def asked_corpus(self) -> Path | None:
        """The corpus the index must belong to; None when only an index folder was given (then
        the index is opened for the corpus it records, as ``qa ask --index-dir D`` always was)."""
        if "index_dir" in self.given and "corpus" not in self.given:
            return None
        return self.corpus


def check_k(k: object) -> int:
    """``k`` if it is a whole number from 1 to MAX_K, else ConfigError."""
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_K:
        raise ConfigError(f"k must be a whole number from 1 to {MAX_K}, not {k!r}")
    return k


def check_mode(mode: object) -> str:
    if mode not in MODES:
        raise ConfigError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
    return str(mode)


def check_encoder(encoder: object, allowed: tuple[str, ...] = ENCODERS, what: str = "encoder") -> str:
    if encoder not in allowed:
        raise ConfigError(f"{what} must be one of {', '.join(allowed)}, not {encoder!r}")
    return str(encoder)


def _config_file() -> Path | None:
    explicit = os.environ.get("QA_CONFIG")
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise ConfigError(f"QA_CONFIG names {path}, which is not a file")
        return path
    for candidate in (Path("qa.toml"), Path.home() / ".config" / "qa" / "config.toml"):
        if candidate.is_file():
            return candidate
    return None


def _from_file() -> dict[str, Any]:
    path = _config_file()
    if path is None:
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, RecursionError) as exc:
        raise ConfigError(f"cannot read config file {path}: {type(exc).__name__}: {exc}") from exc
    unknown = set(data) - {"corpus", "index_dir", "mode", "k", "encoder", "cluster"}
    if unknown:
        raise ConfigError(f"unknown key(s) in {path}: {', '.join(sorted(unknown))}")
    for key, value in data.items():
        # A TOML value of the wrong type (k = "5", k = true, mode = ["dense"]) is named, not
        # coerced: int(True) would quietly be 1 and str([...]) a nonsense path.
        wanted = int if key == "k" else str
        if type(value) is not wanted:
            kind = "a whole number" if wanted is int else "a string"
            raise ConfigError(f"{key} in {path} must be {kind}, not {type(value).__name__} {value!r}")
    for key in ("corpus", "index_dir"):
        if key in data:
            data[key] = (path.parent / str(data[key])).resolve()
    return data


def _from_env() -> dict[str, Any]:
    env = {
        "corpus": os.environ.get("QA_CORPUS"),
        "index_dir": os.environ.get("QA_INDEX_DIR"),
        "mode": os.environ.get("QA_MODE"),
        "k": os.environ.get("QA_K"),
        "encoder": os.environ.get("QA_ENCODER"),
        "cluster": os.environ.get("QA_CLUSTER"),
    }
    return {key: value for key, value in env.items() if value}


def resolve_settings(**flags: Any) -> Settings:
    """Settings from flags (None means "not given") over env over file over defaults."""
    merged: dict[str, Any] = {}
    for layer in (_from_file(), _from_env(), {k: v for k, v in flags.items() if v is not None}):
        merged.update(layer)
    try:
        if "k" in merged:
            merged["k"] = int(merged["k"])
    except ValueError as exc:
        raise ConfigError(f"k must be a whole number, not {merged['k']!r}") from exc
    for key in ("corpus", "index_dir"):
        if key in merged:
            merged[key] = Path(merged[key])
    return Settings(**merged, given=frozenset(merged))  # not replace(Settings(), ...): the index follows the corpus
