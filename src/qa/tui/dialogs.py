"""Small screens over the chat: where to export, a yes/no confirmation, and the explain view of
an answer (why it was ranked, chosen or refused)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from qa.safety import printable_line
from qa.tui.widgets import plain
from qa.types import Answer


class ExportScreen(ModalScreen[Path | None]):
    """Asks where to export, the default path filled in. ``write(path)`` writes and returns
    why it could not, shown here while the dialog stays open; dismissed with the path written,
    or None (Esc)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, default: Path, write: Callable[[Path], str | None]) -> None:
        super().__init__()
        self.default = default
        self.write = write

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label("Export the conversation as Markdown to:")
            yield Input(str(self.default), id="export-path")
            yield Static("", id="export-error")
            yield Label("Enter writes · Esc cancels · an existing file is never overwritten", classes="hint")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    @on(Input.Submitted)
    def _submit(self, event: Input.Submitted) -> None:
        value = event.value.strip()
        if not value:
            self.show_error("Give a file name.")
            return
        path = Path(value).expanduser()
        error = self.write(path)
        if error:
            self.show_error(error)
        else:
            self.dismiss(path)

    def show_error(self, message: str) -> None:
        self.query_one("#export-error", Static).update(plain(message, "bold red"))

    def action_cancel(self) -> None:
        self.dismiss(None)


class ConfirmScreen(ModalScreen[bool]):
    """A question answered yes (y, Enter on Yes) or no (n, Esc)."""

    BINDINGS = [Binding("y", "answer(True)", "Yes"), Binding("n,escape", "answer(False)", "No")]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(plain(self.question))
            with Horizontal(classes="buttons"):
                yield Button("Yes, delete (y)", variant="error", id="yes")
                yield Button("No (n)", variant="primary", id="no")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()  # the safe choice is the default

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


def _score(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, int | float) and not isinstance(value, bool) else "-"


def _s(value: Any) -> str:
    """A field of the explanation as one safe line (document text and paths are untrusted)."""
    return printable_line(str(value)) if value is not None else "-"


def explain_text(answer: Answer) -> Text:
    """The explanation of ``answer`` for people: the decision, each retrieved passage's scores,
    ranks and matched terms, each candidate sentence's score and why it was or was not cited."""
    text = Text()
    text.append(f"Question: {_s(answer.question)}\n", style="bold")
    if answer.explain is None:
        text.append("\nThis answer carries no explanation.")
        return text
    data = answer.explain.to_dict()
    text.append("Why: ", style="bold")
    text.append(_s(data.get("decision")) + "\n", style="green" if answer.grounded else "yellow")
    text.append(f"Threshold {_score(data.get('threshold'))} · conflict bar {_score(data.get('conflict_bar'))}"
                f" · searched for: {_s(data.get('search_query'))}\n\n", style="dim")
    text.append("Retrieved passages\n", style="bold underline")
    text.append(f"{'rank':>4}  {'fused':>6}  {'dense':>6}  {'BM25':>6}  passage · matched terms\n", style="dim")
    for p in data.get("passages") or []:
        if not isinstance(p, dict):
            continue
        terms = ", ".join(_s(t) for t in p.get("matched_terms") or []) or "none"
        text.append(f"{_s(p.get('rank')):>4}  {_score(p.get('fused_score')):>6}  {_score(p.get('dense_score')):>6}  "
                    f"{_score(p.get('bm25_score')):>6}  ")
        text.append(f"{_s(p.get('path'))}:{_s(p.get('start_line'))}-{_s(p.get('end_line'))}", style="bold")
        text.append(f" · {terms}\n")
    text.append("\nCandidate sentences (answer model)\n", style="bold underline")
    candidates = [c for c in data.get("candidates") or [] if isinstance(c, dict)]
    if not candidates:
        text.append("none: no passage holds a quotable sentence with answer words\n")
    for c in candidates:
        chosen = c.get("citation")
        text.append(f"[{chosen}] chosen" if chosen is not None else "not cited", style="bold cyan" if chosen else "dim")
        span: dict[str, Any] = c["span"] if isinstance(c.get("span"), dict) else {}
        text.append(f"  p={_score(c.get('probability'))} logit={_score(c.get('logit'))}"
                    f"  passage {_s(c.get('passage_rank'))} ({_s(c.get('path'))})"
                    f"  answer words \u201c{_s(span.get('text'))}\u201d\n")
        text.append(f"    \u201c{_s(c.get('sentence'))}\u201d\n", style="italic")
        text.append(f"    why: {_s(c.get('reason'))}\n")
    return text


class ExplainScreen(ModalScreen[None]):
    """Why the selected answer is what it is (the ``explain`` of ``qa ask --explain``)."""

    BINDINGS = [Binding("escape,x,q", "app.pop_screen", "Close")]

    def __init__(self, answer: Answer) -> None:
        super().__init__()
        self.answer = answer

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="explain"):
            yield Static(explain_text(self.answer), id="explain-text")
