"""Settings: flags > QA_* environment > config file > defaults, and every bad input a clear
ConfigError (exit code 1 from the CLI, with the file or variable named)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

import qa
from qa.cli import cli
from qa.locations import index_dir_for


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    for name in ("QA_CONFIG", "QA_CORPUS", "QA_INDEX_DIR", "QA_MODE", "QA_K", "QA_ENCODER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)


def test_layers_in_order(tmp_path, monkeypatch):
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "qa.toml").write_text('corpus = "docs"\nk = 3\nmode = "dense"\n')
    monkeypatch.setenv("QA_CONFIG", str(tmp_path / "conf" / "qa.toml"))
    monkeypatch.setenv("QA_K", "7")
    settings = qa.resolve_settings(mode="lexical")
    assert settings.corpus == (tmp_path / "conf" / "docs").resolve()  # relative to the file
    assert (settings.k, settings.mode) == (7, "lexical")
    # No index_dir anywhere: the corpus's own index folder, not ./embeddings (issue 15).
    assert settings.index_dir == index_dir_for(settings.corpus) != Path("embeddings")


@pytest.mark.parametrize(("content", "message"), [
    ('k = "five"', "k in qa.toml must be a whole number"),
    ("k = 0", "k must be a whole number from 1 to 1000"),
    ('mode = "fuzzy"', "mode must be one of hybrid, dense, lexical"),
    ('encoder = "gpu"', "encoder must be one of auto, onnx, torch"),
    ('colour = "blue"', "unknown key\\(s\\) in .*qa.toml: colour"),
    ("k = [", "cannot read config file .*qa.toml"),
])
def test_bad_config_file(tmp_path, content, message):
    (tmp_path / "qa.toml").write_text(content + "\n")
    with pytest.raises(qa.ConfigError, match=message):
        qa.resolve_settings()
    result = CliRunner().invoke(cli, ["search", "anything"])
    assert result.exit_code == 1 and "Error:" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_undecodable_config_file(tmp_path):
    (tmp_path / "qa.toml").write_bytes(b"k = 3\n\xff\xfe\n")
    with pytest.raises(qa.ConfigError, match="cannot read config file"):
        qa.resolve_settings()


def test_qa_config_naming_a_missing_file(tmp_path, monkeypatch):
    monkeypatch.setenv("QA_CONFIG", str(tmp_path / "nope.toml"))
    with pytest.raises(qa.ConfigError, match="QA_CONFIG names .*nope.toml, which is not a file"):
        qa.resolve_settings()


def test_bad_environment_values(monkeypatch):
    monkeypatch.setenv("QA_K", "many")
    with pytest.raises(qa.ConfigError, match="k must be a whole number, not 'many'"):
        qa.resolve_settings()
    monkeypatch.setenv("QA_K", "4")
    monkeypatch.setenv("QA_MODE", "semantic")
    with pytest.raises(qa.ConfigError, match="mode must be one of"):
        qa.resolve_settings()


def test_user_config_file_is_the_last_resort(tmp_path):
    user = tmp_path / "home" / ".config" / "qa"
    user.mkdir(parents=True)
    (user / "config.toml").write_text("k = 9\n")
    assert qa.resolve_settings().k == 9
    (tmp_path / "qa.toml").write_text("k = 2\n")  # ./qa.toml wins over the user's file
    assert qa.resolve_settings().k == 2
