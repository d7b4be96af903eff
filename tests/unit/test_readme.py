"""The README's two opening commands are the ones CI and users run."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import qa

from ..conftest import ROOT


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return re.findall(r"```sh\n(.+?)\n```", text, flags=re.S)[:2]


def test_ci_runs_the_readme_test_command():
    main_job, tests = readme_commands()
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    (ci_command,) = re.findall(r"TEST_COMMAND='(.+?)'", ci)
    assert tests == ci_command
    assert "pytest" in tests


def test_both_commands_install_cpu_torch_first():
    for command in readme_commands():
        assert command.index("torch==2.13.0") < command.index("pip install -q -e")


def test_the_chat_command_can_build_into_the_committed_embeddings_folder(corpus_copy, tmp_path, fake):
    """A fresh clone holds only the committed files of embeddings/; the README's first command
    builds the index there. (It once refused: the folder held a README but no claim marker.)"""
    listed = subprocess.run(["git", "ls-files", "embeddings"], cwd=ROOT, capture_output=True,
                            text=True, check=True).stdout.split()
    assert listed, "embeddings/ must be in the repository"
    fresh = tmp_path / "embeddings"
    fresh.mkdir()
    for name in listed:
        shutil.copy(ROOT / name, fresh / Path(name).name)
    qa.build_index(corpus_copy, fresh, encoder=fake, export=False)
    assert qa.open_index(fresh, encoder=fake).manifest.files
    assert (fresh / "README.md").read_bytes() == (ROOT / "embeddings" / "README.md").read_bytes()
