"""Hostile input at the command line (issue 14, item 5): every one gets the project's typed error
and a one-line message with exit code 1 (2 for usage), never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from qa.cli import cli


def one_line_error(result, code: int = 1) -> str:
    assert result.exit_code == code, result.output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), result.exception
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 if code == 1 else lines, result.output
    return result.output


@pytest.mark.parametrize("data", [
    b"caf\xe9 au lait?\n",  # Latin-1 bytes
    b"\xed\xa0\x80 lone surrogate encoded?\n",  # a UTF-8-encoded lone surrogate
    b"\xff\xfe\x00binary\n",
])
def test_non_utf8_bytes_on_stdin(tmp_path, monkeypatch, data):
    monkeypatch.chdir(tmp_path)  # no corpus/ here, so no first-run build either
    result = CliRunner().invoke(cli, ["ask", "--index-dir", str(tmp_path / "none")], input=data)
    assert "not UTF-8 text" in one_line_error(result)


@pytest.mark.parametrize("question", ["caf\udce9?", "\ud800 lone", "tail \udfff"])
def test_lone_surrogates_in_the_question(tmp_path, monkeypatch, question):
    monkeypatch.chdir(tmp_path)
    # What Python makes of undecodable bytes in argv (surrogateescape).
    result = CliRunner().invoke(cli, ["ask", question, "--index-dir", str(tmp_path / "none")])
    assert "not valid text" in one_line_error(result)


def test_closed_stdin_is_a_usage_error(tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", "from qa.cli import main; main()", "ask", "--index-dir", str(tmp_path / "none")],
        preexec_fn=lambda: os.close(0), capture_output=True, text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}, check=False,
    )
    assert result.returncode == 2, result.stderr
    assert "standard input is closed" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("toml, message", [
    ('k = "5"\n', "k in"),
    ("k = true\n", "k in"),
    ("k = 2.5\n", "k in"),
    ("k = [1]\n", "k in"),
    ('mode = ["dense"]\n', "mode in"),
    ("encoder = 3\n", "encoder in"),
    ("corpus = 5\n", "corpus in"),
    ("index_dir = { a = 1 }\n", "index_dir in"),
    pytest.param("k = " + "[" * 5000 + "]" * 5000 + "\n", "cannot read config file", id="nested-5000"),
])
def test_config_values_of_the_wrong_type(tmp_path, monkeypatch, toml, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "qa.toml").write_text(toml)
    result = CliRunner().invoke(cli, ["search", "anything"])
    assert message in one_line_error(result)


@pytest.mark.parametrize("content, message", [
    pytest.param(b"[" * 100_000 + b"]" * 100_000 + b"\n", "not a question record (RecursionError", id="nested"),
    pytest.param(b'{"question": "caf\xe9", "answerable": true}\n', "is not UTF-8", id="latin-1"),
])
def test_a_hostile_question_file(tmp_path, monkeypatch, content, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "q.jsonl").write_bytes(content)
    result = CliRunner().invoke(cli, ["eval-questions", str(tmp_path / "q.jsonl"), "--index-dir", str(tmp_path / "none")])
    assert message in one_line_error(result)
