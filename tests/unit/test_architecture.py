"""The shape the README's layout section promises: imports only point down the data flow, the
interfaces and benches use only public names, and no module grows past ~400 lines."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from ..conftest import ROOT

SRC = ROOT / "src" / "qa"
# The data flow, lowest step first. A module may import only from modules before it.
FLOW = ["_version", "errors", "types", "records", "locations", "config", "safety", "html_reader", "docx_reader", "markdown",
        "layout", "loading", "chunking",
        "embedding", "lexical", "dense", "disk", "store", "encoder_policy", "indexing", "retrieval",
        "models.__init__", "models.artifact", "models.reader", "models.nli", "conflicts", "answering", "explain", "audit",
        "evaluation",
        # qa.cluster (the optional Ray path): api builds through cluster.build and recognises a
        # sharded index by cluster.manifest; cluster.index subclasses api.Index; opening (what
        # qa.open_index is) comes after both kinds, so api never imports the Ray-serving side.
        "cluster.terms", "cluster.runtime", "cluster.manifest", "cluster._adapters", "cluster.serve",
        "cluster.build", "api", "conversation", "watching", "cluster.index", "opening", "cluster.__init__", "__init__",
        "tui.userdata", "tui.history", "tui.widgets", "tui.messages", "tui.screens", "tui.document", "tui.dialogs",
        "tui.conversations", "tui.app", "console", "cli"]
INTERFACES = ["tui.userdata", "tui.history", "tui.widgets", "tui.messages", "tui.screens", "tui.document",
              "tui.dialogs", "tui.conversations", "tui.app", "console", "cli"]  # `qa chat` starts the TUI
PUBLIC_MODULES = {"qa", "qa.types", "qa.errors", "qa.config", "qa.safety"}


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(SRC).with_suffix("").parts)


def imports(path: Path) -> list[tuple[str, list[str]]]:
    """(module, names) for every ``import qa...`` / ``from qa... import names`` in ``path``,
    TYPE_CHECKING blocks included."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "qa":
            found.append((node.module, [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            found += [(a.name, []) for a in node.names if a.name.split(".")[0] == "qa"]
    return found


def test_every_module_is_placed_in_the_flow():
    modules = {module_name(p) for p in SRC.rglob("*.py")} - {"tui.__init__"}
    assert modules == set(FLOW)


@pytest.mark.parametrize("name", [m for m in FLOW if m != "__init__"])
def test_imports_point_only_down_the_flow(name):
    path = SRC / (name.replace(".", "/") + ".py")
    for module, names in imports(path):
        targets = [n if module == "qa" else module[3:] for n in names or [""]]
        for target in targets:
            step = next((m for m in FLOW if target == m or target.startswith(m + ".")), None)
            if module == "qa" and step is None:  # `from qa import Name`: the public API
                step = "__init__"
            assert step is not None, f"{name} imports unknown {module}"
            assert FLOW.index(step) < FLOW.index(name), f"{name} imports {step}, a later step"


@pytest.mark.parametrize("path", [SRC / (m.replace(".", "/") + ".py") for m in INTERFACES]
                         + sorted((ROOT / "bench").glob("*.py")), ids=lambda p: p.name)
def test_interfaces_and_benches_use_only_public_names(path):
    for module, names in imports(path):
        if path.name == "query_latency.py" and module in ("qa.retrieval",):
            continue  # measures the retrieval step on synthetic indexes (see its docstring)
        assert not any(part.startswith("_") for part in module.split(".")), module
        assert not [n for n in names if n.startswith("_")], (module, names)
        # An interface may use another (cli starts the TUI and draws console's bar).
        if path.parent.name != "bench" and module.removeprefix("qa.") not in INTERFACES and not module.startswith("qa.tui"):
            assert module in PUBLIC_MODULES, f"{path.name} reaches past the API into {module}"


def test_no_module_is_much_over_400_lines():
    sizes = {module_name(p): len(p.read_text(encoding="utf-8").splitlines()) for p in SRC.rglob("*.py")}
    assert max(sizes.values()) <= 410, sizes
