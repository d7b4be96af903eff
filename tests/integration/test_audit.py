"""Auditable answers (issue 16): fingerprinted, byte-reproducible JSON, `qa verify`, `--explain`
and the sources-disagree warning. Real model, real FAISS; small corpora whose answers are plain."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from qa.cli import cli
from qa.conflicts import claim, disagree, same_subject

QUESTION = "When was the Pyongyang Declaration signed?"


def _ask_json(index_dir: Path, question: str, *extra: str) -> dict:
    result = CliRunner().invoke(cli, ["ask", question, "--json", "--index-dir", str(index_dir), *extra])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


@pytest.fixture()
def small_index(index_copy, tmp_path):
    """Build an index of the given {name: text} files, reusing the shipped index's ONNX export."""
    import qa

    def build(files: dict[str, str]) -> Path:
        corpus = tmp_path / "small"
        corpus.mkdir()
        for name, text in files.items():
            (corpus / name).write_text(text, encoding="utf-8")
        qa.build_index(corpus, index_copy)
        return index_copy

    return build


# --- fingerprint and reproducibility ----------------------------------------------------------

def test_the_same_question_gives_byte_identical_json_in_two_processes(shipped_index_dir):
    command = [sys.executable, "-c", "from qa.cli import main; main()", "ask", QUESTION, "--json",
               "--explain", "--index-dir", str(shipped_index_dir)]
    first, second = (subprocess.run(command, capture_output=True, timeout=600) for _ in range(2))
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout
    assert b"fingerprint" in first.stdout and b"created" not in first.stdout


def test_fingerprint_names_code_models_index_and_cited_files(shipped_index_dir):
    import qa

    data = _ask_json(shipped_index_dir, QUESTION)
    generation = shipped_index_dir / (shipped_index_dir / "CURRENT").read_text().strip()
    manifest_bytes = (generation / "manifest.json").read_bytes()
    manifest = json.loads(manifest_bytes)
    fp = data["fingerprint"]
    assert fp["qa_version"] == qa.__version__
    assert fp["encoder"] == {"name": manifest["model"]["name"], "sha256": manifest["onnx"]["sha256"]}
    assert fp["answer_model"]["sha256"] == qa.answer_model().sha256
    assert fp["index"] == {"generation": generation.name,
                           "manifest_sha256": hashlib.sha256(manifest_bytes).hexdigest()}
    corpus = Path(data["corpus"])
    assert corpus == Path(manifest["corpus"]) and corpus.is_absolute()
    cited = {c["path"] for c in data["citations"]}
    assert cited and set(fp["files"]) == cited
    for path, sha in fp["files"].items():
        assert hashlib.sha256((corpus / path).read_bytes()).hexdigest() == sha
    for record in [*data["citations"], *data["passages"], data["answer_span"]]:
        assert not Path(record["path"]).is_absolute() and (corpus / record["path"]).is_file()


def test_api_answers_carry_the_fingerprint(shipped_index):
    answer = shipped_index.answer(QUESTION)
    assert answer.fingerprint is not None
    assert answer.to_dict()["fingerprint"] == answer.fingerprint.to_dict()
    assert "explain" not in answer.to_dict() and "explain" in answer.to_dict(explain=True)


# --- qa verify --------------------------------------------------------------------------------

def test_verify_passes_then_reports_the_edited_citation_stale(index_copy, corpus_copy, tmp_path):
    import qa

    # One new file makes a new generation, which records the corpus at its new place.
    (corpus_copy / "note.txt").write_text("A short note that answers nothing in particular at all.\n")
    qa.build_index(corpus_copy, index_copy)  # the same files at a new place: their vectors are reused
    data = _ask_json(index_copy, QUESTION)
    assert Path(data["corpus"]) == corpus_copy.resolve()
    saved = tmp_path / "answer.json"
    saved.write_text(json.dumps(data), encoding="utf-8")

    ok = CliRunner().invoke(cli, ["verify", str(saved)])
    assert ok.exit_code == 0, ok.output
    assert "STALE" not in ok.output and f"All {len(data['citations']) + 1} quote(s) current" in ok.output

    cited = corpus_copy / data["citations"][0]["path"]
    cited.write_text("A new first line moves everything.\n" + cited.read_text(encoding="utf-8"), encoding="utf-8")
    stale = CliRunner().invoke(cli, ["verify", str(saved), "--index-dir", str(index_copy)])
    assert stale.exit_code == 1, stale.output
    assert f"[1] {data['citations'][0]['path']}" in stale.output and "STALE" in stale.output
    assert "answer span" in stale.output and "changed since the answer" in stale.output
    assert "the quote is now at chars" in stale.output  # it moved: verify says where to


def test_verify_reports_a_deleted_file_and_rejects_what_is_not_an_answer(index_copy, corpus_copy, tmp_path):
    import qa

    # One new file makes a new generation, which records the corpus at its new place.
    (corpus_copy / "note.txt").write_text("A short note that answers nothing in particular at all.\n")
    qa.build_index(corpus_copy, index_copy)
    data = _ask_json(index_copy, QUESTION)
    saved = tmp_path / "answer.json"
    saved.write_text(json.dumps(data), encoding="utf-8")
    (corpus_copy / data["citations"][0]["path"]).unlink()
    result = CliRunner().invoke(cli, ["verify", str(saved)])
    assert result.exit_code == 1 and "missing or unreadable" in result.output
    (tmp_path / "junk.json").write_text("[1, 2]")
    junk = CliRunner().invoke(cli, ["verify", str(tmp_path / "junk.json")])
    assert junk.exit_code == 1 and "not a qa answer" in junk.output


# --- explain ----------------------------------------------------------------------------------

def test_explain_is_consistent_with_the_answer(shipped_index_dir):
    data = _ask_json(shipped_index_dir, QUESTION, "--explain")
    ex = data["explain"]
    assert ex["threshold"] > 0 and ex["decision"].startswith("answered")
    assert [p["rank"] for p in ex["passages"]] == [p["rank"] for p in data["passages"]]
    for trace, hit in zip(ex["passages"], data["passages"], strict=True):
        assert trace["path"] == hit["path"]
        assert trace["dense_score"] == round(hit["dense_score"], 4)
        assert trace["bm25_score"] == round(hit["lexical_score"], 4)
        assert set(trace["matched_terms"]) <= {"pyongyang", "declar", "sign"}
    assert "declar" in ex["passages"][0]["matched_terms"]
    probabilities = [c["probability"] for c in ex["candidates"]]
    assert probabilities == sorted(probabilities, reverse=True)
    assert probabilities[0] == data["confidence"]
    chosen = [c for c in ex["candidates"] if c["chosen"]]
    assert [c["citation"] for c in chosen] == [c["n"] for c in data["citations"]]
    for trace, citation in zip(chosen, data["citations"], strict=True):
        assert (trace["path"], trace["start_char"], trace["end_char"], trace["sentence"]) == \
            (citation["path"], citation["start_char"], citation["end_char"], citation["quote"])
        assert trace["start_char"] <= trace["span"]["start_char"] <= trace["span"]["end_char"] <= trace["end_char"]
        assert isinstance(trace["logit"], float)
    assert data["answer_span"]["text"] == chosen[0]["span"]["text"]
    for c in ex["candidates"]:
        assert c["reason"] and (c["chosen"] or c["citation"] is None)
        if not c["chosen"] and "below the threshold" in c["reason"]:
            assert c["probability"] < ex["threshold"]


def test_explain_of_a_refusal_gives_the_best_evidence_against_the_threshold(shipped_index_dir):
    data = _ask_json(shipped_index_dir, "What is the capital of Australia?", "--explain")
    assert data["grounded"] is False
    ex = data["explain"]
    assert ex["decision"].startswith("refused")
    assert all(not c["chosen"] for c in ex["candidates"])
    if ex["candidates"]:
        assert f"{ex['candidates'][0]['probability']:.4f}" in ex["decision"]
        assert ex["candidates"][0]["probability"] < ex["threshold"]
    human = CliRunner().invoke(cli, ["ask", "What is the capital of Australia?", "--explain",
                                     "--index-dir", str(shipped_index_dir)])
    assert "Why: refused" in human.output and "Retrieved passages" in human.output


# --- sources disagree -------------------------------------------------------------------------

WESTBROOK = {
    "westbrook-treaty.txt": "= Treaty of Westbrook =\n\nThe Treaty of Westbrook was signed on 12 March 1854 "
                            "by the kingdoms of Arland and Belmoor after two years of talks.\n",
    "belmoor-chronicle.txt": "= The Belmoor chronicle =\n\nAccording to the Belmoor chronicle, the Treaty of "
                             "Westbrook was signed on 3 June 1861 in the town hall of Westbrook.\n",
}


def test_conflicting_dates_are_cited_on_both_sides_with_a_warning(small_index):
    index_dir = small_index(WESTBROOK)
    question = "When was the Treaty of Westbrook signed?"
    data = _ask_json(index_dir, question)
    assert data["grounded"] is True
    (conflict,) = data["conflicts"]
    assert conflict["kind"] == "value" and len(conflict["claims"]) == 2
    by_n = {c["n"]: c for c in data["citations"]}
    assert {by_n[n]["path"] for n in conflict["claims"]} == set(WESTBROOK)
    assert {"1854", "1861"} == {v[-4:] for v in conflict["values"]}
    human = CliRunner().invoke(cli, ["ask", question, "--index-dir", str(index_dir)])
    warning = [line for line in human.output.splitlines() if line.startswith("Warning: the sources disagree")]
    assert len(warning) == 1 and "1854" in warning[0] and "1861" in warning[0]


@pytest.mark.parametrize(("years", "conflict"), [(("2002", "2017"), False), (None, True)])
def test_values_the_sources_place_at_different_times_are_not_a_conflict(small_index, years, conflict):
    first, second = (f" in {years[0]}", f"In {years[1]} t") if years else ("", "T")
    index_dir = small_index({
        "accord-2002.txt": f"= Harbour Accord =\n\nThe Harbour Accord had 258 signatories{first}, ten "
                           "years after it was opened for signature.\n",
        "accord-2017.txt": f"= Harbour Accord today =\n\n{second}he Harbour Accord had 300 signatories "
                           "from every continent.\n",
    })
    question = "How many signatories did the Harbour Accord have?"
    data = _ask_json(index_dir, question, "--explain")
    assert data["grounded"] is True
    # Both sides were read and give different counts: with the years said, only they keep the
    # two apart; without them (the control) the same sentences are a conflict.
    counts = {c["span"]["text"] for c in data["explain"]["candidates"]
              if c["probability"] >= data["explain"]["conflict_bar"]}
    assert any("258" in t for t in counts) and any("300" in t for t in counts)
    assert bool(data["conflicts"]) is conflict


@pytest.mark.parametrize(("question", "a", "b", "expected"), [
    ("When was it signed?", "It was signed on <12 March 1854>.", "It was signed on <3 June 1861>.", True),
    ("When was it signed?", "It was signed on <12 March 1854>.", "It was signed in <March 1854>.", False),
    ("When was it signed?", "It was signed on <12 March> 1854.", "It was signed on <March 12, 1854>.", False),
    ("When was it signed?", "It was signed on <12 March> 1854.", "It was signed on <12 March 1855>.", True),
    ("How many parties signed it?", "It was signed by <69 parties>.", "It was signed by <sixty-nine> parties.", False),
    ("How many parties signed it?", "It was signed by <69> parties.", "It was signed by <70> parties.", True),
    ("How many signatories were there?", "There were <258> signatories in 2002.", "In 2017 there were <300> signatories.", False),
    ("How many signatories were there?", "There were <258> signatories in 2002.", "There were <300> signatories in 2002.", True),
    ("How many signatories were there?", "There were <258> signatories.", "Today there are <300> signatories.", False),
    ("Who led the party?", "The party was led by <President Kim Il Sung>.", "<Kim Il Sung> led the party.", False),
    ("Who led the party?", "The party was led by <Hu Yaobang>.", "<Deng Xiaoping> led the party.", True),
])
def test_value_claims(question, a, b, expected):
    def parse(marked: str) -> tuple[str, tuple[int, int]]:
        start = marked.index("<")
        end = marked.index(">") - 1
        return marked.replace("<", "").replace(">", ""), (start, end)

    ca, cb = claim(question, *parse(a)), claim(question, *parse(b))
    assert ca is not None and cb is not None
    assert disagree(ca, cb) is expected
    assert disagree(cb, ca) is expected


def test_what_questions_are_not_compared_and_other_subjects_do_not_count():
    assert claim("What is socialism?", "Socialism is an ideal.", (0, 9)) is None
    assert claim("How many signatories were there?", "It was signed on 20 April 1992.", (17, 25)) is None
    assert same_subject("When was the Pyongyang Declaration signed?", "Pyongyang Declaration text")
    assert not same_subject("When was the Pyongyang Declaration signed?", "Meeting in Pyongyang from 6-9 May")
