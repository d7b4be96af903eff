"""The command line, driven by click's CliRunner and, for start-up, real subprocesses."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from qa.cli import cli

from ..conftest import CORPUS


@pytest.fixture()
def run(shipped_index_dir):
    def invoke(*args, input=None):
        return CliRunner().invoke(cli, [*args, "--index-dir", str(shipped_index_dir)], input=input)
    return invoke


def test_search_json_has_hits_with_line_numbers(run):
    result = run("search", "When was the Pyongyang Declaration signed?", "--json")
    assert result.exit_code == 0, result.output
    hits = json.loads(result.output)["hits"]
    assert hits[0]["path"] == "pyongyang-declaration-1992.txt" and "20 April 1992" in hits[0]["text"]
    lines = (CORPUS / hits[0]["path"]).read_text().splitlines()
    assert "20 April 1992" in "\n".join(lines[hits[0]["start_line"] - 1: hits[0]["end_line"]])


def test_search_human_output(run):
    result = run("search", "Hu Yaobang", "-k", "2")
    assert result.exit_code == 0
    assert "kim-il-sung-unity-of-socialist-countries-1980s.txt:" in result.output
    assert "score" in result.output


def test_ask_json_schema(run):
    result = run("ask", "When was the Pyongyang Declaration signed?", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert set(data) >= {"question", "answer", "grounded", "citations", "passages"}
    assert data["grounded"] is True and "20 April 1992" in data["answer"]
    c = data["citations"][0]
    assert set(c) >= {"n", "path", "title", "start_line", "end_line", "start_char", "end_char", "quote", "score"}
    raw = (CORPUS / c["path"]).read_text()
    assert raw[c["start_char"]:c["end_char"]] == c["quote"]
    assert c["quote"] in "".join(raw.splitlines(keepends=True)[c["start_line"] - 1: c["end_line"]])
    assert {"text", "path", "start_line", "score"} <= set(data["passages"][0])


def test_ask_refusal_exits_zero(run):
    result = run("ask", "What is the capital of Australia?", "--json")
    assert result.exit_code == 0
    assert json.loads(result.output)["grounded"] is False
    human = run("ask", "What is the capital of Australia?")
    assert "Closest matches (not answers)" in human.output


def test_ask_reads_questions_from_stdin_as_a_conversation(run):
    result = run("ask", input="When was the Pyongyang Declaration signed?\nHow many signatories were there in 2017?\n")
    assert result.exit_code == 0, result.output
    assert "20 April 1992" in result.output and "300" in result.output
    assert result.output.count("Q: ") == 2


def test_errors_are_one_line_and_non_zero(run, tmp_path, monkeypatch):
    for empty in ("", "   "):  # an empty question is bad usage, like a missing one (exit 2)
        result = run("ask", empty)
        assert result.exit_code == 2 and "QUESTION" in result.output
    assert run("ask", "a\x00b").exit_code == 1  # a question that cannot be asked is an error
    monkeypatch.chdir(tmp_path)  # no corpus/ here, so no first-run build either
    result = CliRunner().invoke(cli, ["search", "x", "--index-dir", str(tmp_path / "none")])
    assert result.exit_code == 1 and "qa index" in result.output
    assert CliRunner().invoke(cli, ["search", "x", "-k", "0"]).exit_code == 2


def test_index_command_summary(tmp_path, corpus_copy):
    result = CliRunner().invoke(cli, ["index", str(corpus_copy), "--index-dir", str(tmp_path / "idx")])
    assert result.exit_code == 0, result.output
    assert "Indexed 4 file(s)" in result.output and "chunks:" in result.output
    again = CliRunner().invoke(cli, ["index", str(corpus_copy), "--index-dir", str(tmp_path / "idx")])
    assert "up to date" in again.output and "nothing embedded" in again.output


def test_settings_from_environment_and_config_file(tmp_path, shipped_index_dir, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("QA_INDEX_DIR", str(shipped_index_dir))
    assert CliRunner().invoke(cli, ["search", "Hu Yaobang", "--json"]).exit_code == 0
    monkeypatch.delenv("QA_INDEX_DIR")
    (tmp_path / "qa.toml").write_text(f'index_dir = "{shipped_index_dir}"\nk = 2\n')
    result = CliRunner().invoke(cli, ["search", "Hu Yaobang", "--json"])
    assert result.exit_code == 0 and len(json.loads(result.output)["hits"]) == 2


def test_help_imports_nothing_heavy():
    code = "import sys\nsys.argv=['qa','--help']\nfrom qa.cli import main\ntry:\n    main()\nexcept SystemExit:\n    pass\nheavy=[m for m in ('numpy','faiss','torch','textual','sentence_transformers','onnxruntime') if m in sys.modules]\nprint('HEAVY', heavy)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60).stdout
    assert "HEAVY []" in out


def test_first_run_builds_the_index_then_answers(tmp_path, corpus_copy, monkeypatch):
    monkeypatch.chdir(corpus_copy.parent)
    result = CliRunner().invoke(cli, ["ask", "How many signatories were there in 2017?", "--json"])
    assert result.exit_code == 0, result.output
    assert "first run" in result.output
    assert "300" in json.loads(result.output[result.output.index("{"):])["answer"]
    assert (tmp_path / "embeddings" / "CURRENT").is_file()


def test_hostile_document_text_is_printed_literally_by_the_cli(tmp_path, monkeypatch):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "hostile.txt").write_text(
        "= Hostile =\n\nThe zebra manual says [bold]x[/] and [link=file:///etc/passwd]x[/link] stay literal.\n\n"
        "Zebra terminals receive \x1b[31mred\x1b[0m, \x1b]52;c;cHduZWQ=\x07 and \u202eevil\u202c from zebra files.\n")
    monkeypatch.chdir(tmp_path)
    for args in (["search", "zebra terminals receive"], ["ask", "What do zebra terminals receive?"],
                 ["ask", "What does the zebra manual say?"]):
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 0, result.output
        assert "\x1b" not in result.output and "\x07" not in result.output and "\u202e" not in result.output
    assert "[link=file:///etc/passwd]x[/link]" in result.output
    search = CliRunner().invoke(cli, ["search", "zebra terminals receive", "--json"])
    assert "\x1b" not in search.output and "\\u001b" in search.output


def test_eval_questions_scores_a_question_set(run, tmp_path):
    records = [json.loads(line) for line in (CORPUS.parent / "questions" / "shipped-corpus.jsonl").read_text().splitlines()]
    subset = [r for r in records if r["answerable"]][:2] + [r for r in records if not r["answerable"]][:1]
    subset.append({"id": "x1", "question": "When was the Pyongyang Declaration signed?", "answerable": True,
                   "expected": ["a string no answer contains"], "evidence": "nor this"})
    questions = tmp_path / "q.jsonl"
    questions.write_text("\n".join(json.dumps(r) for r in subset) + "\n")
    result = run("eval-questions", str(questions), "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["metrics"]["answerable"] == 3 and data["metrics"]["unanswerable"] == 1
    assert data["metrics"]["answer_contains_expected"] == pytest.approx(2 / 3, abs=1e-4)
    assert data["metrics"]["refusal_rate_unanswerable"] == 1.0
    assert [r["id"] for r in data["results"]] == [r["id"] for r in subset]
    human = run("eval-questions", str(questions), "-v")
    assert human.exit_code == 0 and "3 answerable, 1 unanswerable questions" in human.output
    assert "- x1 (" in human.output  # -v lists the miss
    questions.write_text('{"question": "no answerable key"}\n')
    bad = run("eval-questions", str(questions))
    assert bad.exit_code == 1 and "not a question record" in bad.output


def test_eval_scores_a_beir_dataset(tmp_path):
    dataset = tmp_path / "tiny-beir"
    (dataset / "qrels").mkdir(parents=True)
    docs = {"d1": ("Zebra migration", "Zebras cross the Mara river every July in large herds."),
            "d2": ("Volcano", "Mount Etna erupted with lava fountains over Sicily."),
            "d3": ("Tea", "Green tea is steamed, black tea is oxidised before drying."),
            "d/4": ("Glaciers", "Glaciers in the Alps have retreated since 1850.")}
    (dataset / "corpus.jsonl").write_text("".join(
        json.dumps({"_id": i, "title": t, "text": x}) + "\n" for i, (t, x) in docs.items()))
    (dataset / "queries.jsonl").write_text(
        json.dumps({"_id": "q1", "text": "when do zebras cross the river"}) + "\n"
        + json.dumps({"_id": "q2", "text": "alpine glacier retreat"}) + "\n"
        + json.dumps({"_id": "q3", "text": "not judged, so not scored"}) + "\n")
    (dataset / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td/4\t2\n")
    index_dir = tmp_path / "eval-cache"
    result = CliRunner().invoke(cli, ["eval", str(dataset), "--index-dir", str(index_dir), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output[result.output.index("{"):])
    assert (report["queries"], report["documents"], report["chunks"]) == (2, 4, 4)
    assert set(report["metrics"]) == {"dense", "lexical", "hybrid"}
    for mode in ("dense", "hybrid"):  # each query's one relevant document is the obvious first
        assert report["metrics"][mode] == {"ndcg@10": 1.0, "recall@10": 1.0, "recall@100": 1.0, "mrr@10": 1.0}
    again = CliRunner().invoke(cli, ["eval", str(dataset), "--index-dir", str(index_dir), "--mode", "lexical"])
    assert again.exit_code == 0 and "up to date" in again.output  # the index is reused
    assert "nDCG@10" in again.output and "lexical" in again.output and "hybrid" not in again.output
    missing = CliRunner().invoke(cli, ["eval", str(tmp_path), "--index-dir", str(index_dir)])
    assert missing.exit_code == 1 and "not a BEIR dataset" in missing.output
