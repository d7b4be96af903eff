"""Untrusted document text never reaches the terminal as control sequences or markup."""

from __future__ import annotations

import json
import re

from hypothesis import given
from hypothesis import strategies as st

from qa.safety import printable, safe_json

UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]")
HOSTILE = ["\x1b[31mred\x1b[0m", "\x1b]8;;file:///etc/passwd\x07link\x1b]8;;\x07",
           "\x1b]52;c;cHduZWQ=\x07", "\x07", "\u202eevil\u202c", "[bold]x[/]", "[link=file:///etc/passwd]x[/link]"]


@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=200) | st.sampled_from(HOSTILE))
def test_printable_leaves_no_control_or_bidi_character(text):
    out = printable(text)
    assert not UNSAFE.search(out)
    assert printable(out) == out  # idempotent: visible stand-ins are themselves safe


@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=200))
def test_safe_json_round_trips_and_carries_no_raw_control(text):
    encoded = safe_json({"t": text})
    assert not UNSAFE.search(encoded)
    assert json.loads(encoded)["t"] == text


def test_markup_is_kept_literally():
    assert printable("[bold]x[/]") == "[bold]x[/]"
    assert printable("\x1b[31m") == "\u241b[31m"
