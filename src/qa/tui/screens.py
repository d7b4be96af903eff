"""The help screen and the key table it shows (the README's key table says the same)."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

KEYS = [
    ("Enter", "send the question"),
    ("Ctrl+J or Alt+Enter", "new line in the question"),
    ("Up / Down (empty question)", "previous / next question of this session"),
    ("F2 / F3 / F4", "focus chat / sources / question (Tab and Shift+Tab cycle too)"),
    ("Up / Down in chat", "select an answer: its sources show on the right"),
    ("Enter or click on a source", "open the document at the cited lines, sentence highlighted"),
    ("x in chat", "explain the selected answer: scores, ranks, why it was chosen or refused"),
    ("e (in the document)", "open the file in $EDITOR at the cited line (PDF, Word: its text)"),
    ("/ or Ctrl+F (in the document)", "find in the document; Enter, then n / N for next / previous"),
    ("Esc", "back from the document, find, help or a dialog"),
    ("Ctrl+N", "new chat (the conversation so far stays saved)"),
    ("Ctrl+Y", "copy the selected answer with its citations"),
    ("Ctrl+S", "export the conversation to Markdown (asks where)"),
    ("Ctrl+R", "reopen the corpus: index new or changed files (after adding documents)"),
    ("Ctrl+P", "command palette: saved conversations (open, delete), themes, rebuild"),
    ("F1", "this help"),
    ("Ctrl+Q", "quit"),
]



class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,f1,q", "app.pop_screen", "Close")]

    def compose(self) -> ComposeResult:
        text = Text("qa — keys\n\n", style="bold")
        for key, what in KEYS:
            text.append(f"{key:<32}", style="bold cyan")
            text.append(f"{what}\n")
        text.append("\nAnswers quote the documents; [n] markers point at the sources on the right. "
                    "A refusal (yellow) means the documents don't say; its sources are only the closest matches. "
                    "A \u26a0 line under an answer names cited sources that disagree. "
                    "Questions sent while an answer is computed wait their turn (shown as queued). "
                    "Conversations are saved as you go; reopen them from Ctrl+P.")
        with VerticalScroll():
            yield Static(text)
