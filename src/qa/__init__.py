"""qa: local, offline, citation-first question answering over a folder of documents."""

from __future__ import annotations

__version__ = "0.1.0"
