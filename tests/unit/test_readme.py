"""The README's two opening commands are the ones CI and users run."""

from __future__ import annotations

import re

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
