"""The chat's sources pane shows what a reader sees of a quote, with the answer words marked."""

from __future__ import annotations

from qa.tui.widgets import ANSWER_WORDS, source_label
from qa.types import AnswerSpan, Citation

RAW = "`npm ci` can only install **entire projects** at a time."
SHOWN = "npm ci can only install entire projects at a time."


def citation(quote: str, text: str) -> Citation:
    return Citation(n=1, path="npm-ci.md", title="npm-ci", start_line=3, end_line=3, start_char=100,
                    end_char=100 + len(quote), quote=quote, score=0.9, page=None, text=text)


def marked(label) -> list[str]:
    return [label.plain[s.start:s.end] for s in label.spans if str(s.style) == ANSWER_WORDS]


def test_a_markdown_quote_is_shown_without_its_markup_and_its_answer_words_marked():
    start = 100 + RAW.index("**entire projects**")
    span = AnswerSpan(text="**entire projects**", path="npm-ci.md", start_char=start,
                      end_char=start + len("**entire projects**"), citation=1)
    label = source_label(citation(RAW, SHOWN), span)
    assert SHOWN in label.plain and "`" not in label.plain and "**" not in label.plain
    assert marked(label) == ["entire projects"]


def test_a_plain_quote_marks_its_answer_words_at_their_offsets():
    text = "The declaration was signed by 69 parties."
    start = 100 + text.index("69")
    label = source_label(citation(text, text),
                         AnswerSpan(text="69", path="p.txt", start_char=start, end_char=start + 2, citation=1))
    assert marked(label) == ["69"]
