"""Rebuild the shipped answer model from ``../shared/train``: two readers, one graph.

The shipped artifact averages the logits of two readers trained from all-MiniLM-L6-v2 with
different data mixes (they err on different questions, so the mean separates answerable from
unanswerable questions better than either). This runs both recipes with their fixed seeds, each
resumable from its checkpoint folder under ``training/.work/``:

1. ``answer_model.py --steps 3200 --seed 13 --mix v2``, exported on its own (validated and
   carded), then kept in ``training/.work/members/`` as the first member;
2. ``answer_model.py ... --stage2 ...`` trained, exported with ``--ensemble-with`` the first member:
   the export validates this model alone and the merged graph on the held-out articles, calibrates
   the merged graph and chooses its threshold end to end, and writes it into the package.

Never run by CI. About 3 h 20 min on a 2-core CPU: 55 min of training and a 12 min export for the
first member; 80 + 30 min (stage 1, stage 2) and a 20 min export for the second and the ensemble.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TRAINER = ROOT / "training" / "answer_model.py"
ARTIFACT = ROOT / "src" / "qa" / "models" / "answer"
FIRST = ["--steps", "3200", "--seed", "13", "--real-repeat", "1", "--mix", "v2"]
SECOND = ["--steps", "2200", "--seed", "13", "--real-repeat", "3", "--mix", "v3", "--stage2", "1200", "--stage2-repeat", "2"]
MEMBER = ROOT / "training" / ".work" / "members" / "answer-3200-13-r1-v2"


def run(flags: list[str]) -> None:
    print("+", "python training/answer_model.py", " ".join(flags), flush=True)
    subprocess.run([sys.executable, str(TRAINER), *flags, *sys.argv[1:]], check=True)


def main() -> None:
    if not (MEMBER / "card.json").is_file():
        run(FIRST)
        staging = MEMBER.with_name(MEMBER.name + ".tmp")
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copytree(ARTIFACT, staging)
        staging.replace(MEMBER)
    run([*SECOND, "--ensemble-with", str(MEMBER)])


if __name__ == "__main__":
    main()
