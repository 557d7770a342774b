"""Record and replay: a live run, the same run recording, and its replay.

    python3 benchmarks/replay.py [--tests 50] [--runs 2] [--latency 0.1]

N tests, each `runs` conversations of 3 user turns between the simulator and a `model:` agent,
2 metrics, on the offline provider with `latency` seconds per call (a hosted model's latency).
Runs pytest three times on the same suite: `--amigo-record-mode off` (live), `record` and
`replay`, and reports the wall time, the CPU time (user + sys) of each pytest process, the
calls served and the size of the recordings. Figures go to benchmarks/results/replay.json.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from isolated import environment, pytest_command
from machine import describe

METRICS = """metrics:
  - name: Outcome
    description: Classify how the conversation ended.
    metric_value: {type: categorical, categories: [resolved, escalated, abandoned]}
  - name: Empathy Score
    description: Did the agent apologise, acknowledge the frustration and reassure?
    metric_value: {type: numerical, lower_bound: 1, upper_bound: 10}
"""
TEST = """  - name: case {index}
    persona: {{name: Sam {index}, background: A busy customer.}}
    scenario: {{name: Reset, objective: Reset my password., instructions: Be brief.}}
    target: {{model: offline/agent, system_prompt: "You are Acme's support agent."}}
    max_turns: 3
    runs: {runs}
    min_pass_rate: 0
    metrics:
      - {{metric: Outcome, expect: [resolved, escalated, abandoned]}}
      - {{metric: Empathy Score, expect: ">= 1"}}
"""


def run(folder: Path, mode: str, latency: float) -> dict[str, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.time()
    done = subprocess.run(
        pytest_command("-q", "--amigo-record-mode", mode, "--amigo-offline-latency", str(latency)),
        env=environment(),
        cwd=folder,
        capture_output=True,
        text=True,
    )
    wall = time.time() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        sys.exit(done.stdout[-3000:] + done.stderr[-2000:])
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tests", type=int, default=50)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--output", type=Path, default=Path(__file__).with_name("results"))
    args = parser.parse_args()
    figures: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as directory:
        suite = Path(directory)
        (suite / "metrics.amigo.yaml").write_text(METRICS)
        body = "".join(TEST.format(index=i, runs=args.runs) for i in range(args.tests))
        (suite / "t.amigo.yaml").write_text("simulation_unit_tests:\n" + body)
        for mode in ("off", "record", "replay"):
            figures[mode] = run(suite, mode, args.latency)
            print(f"{mode:7} {figures[mode]}")
        files = list((suite / "__amigo_recordings__").glob("*/*.json"))
        calls = sum(len(json.loads(f.read_text())["model_calls"]) for f in files)
        size = sum(f.stat().st_size for f in files)
    figures["recordings"] = {"files": len(files), "model_calls": calls, "bytes": size}
    print(f"recordings: {len(files)} files, {calls} model calls, {size / 1024:.0f} KiB")
    result = {
        "benchmark": "replay",
        "tests": args.tests,
        "runs": args.runs,
        "latency_s": args.latency,
        "figures": figures,
        **describe(),
    }
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "replay.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
