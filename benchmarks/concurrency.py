"""Benchmarks 1, 2 and 5: DeepEval's multi-turn workload, with latency injected.

    python3 benchmarks/concurrency.py [--tests 20 50] [--latency 0.1] [--xdist 0 2 4]
    python3 benchmarks/concurrency.py --tests 200 --runs 3 --model-concurrency 32   # benchmark 2

N tests, each one conversation of 4 simulated user turns against an async agent, 2 metrics;
every simulator, agent and judge call takes `latency` seconds (the offline provider's injected
latency and an `asyncio.sleep` in the agent). The bound with unlimited concurrency is
4 x (simulator + agent) + one judge round = 9 x latency; with a per-model limit, the bound is
max(that, the busiest model's calls / limit x latency). Reported: the wall time from the end
of collection to the end of the session, its ratio to the bound, the whole command's wall
time, and the peak memory of the largest pytest process. Figures go to
benchmarks/results/concurrency.json as well.
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

from isolated import XDIST, environment, pytest_command
from machine import describe

METRICS = """metrics:
  - name: Helpfulness
    description: Did the agent answer the question and explain what happens next?
    metric_value: {type: numerical, lower_bound: 1, upper_bound: 10}
  - name: Politeness
    description: Was the agent polite and thankful?
    metric_value: {type: boolean}
"""
AGENT = """import asyncio, os

async def respond(messages):
    await asyncio.sleep(float(os.environ["BENCH_AGENT_LATENCY"]))
    return "Thanks for your message; here is what happens next and how long it takes."
"""
TEST = """  - name: case {index}
    persona: {{name: Sam, background: A busy customer.}}
    scenario: {{name: Question, objective: Learn what happens next., instructions: Be brief.}}
    target: {{python: "agent:respond"}}
    max_turns: 4
    runs: {runs}
    metrics:
      - {{metric: Helpfulness, expect: ">= 1"}}
      - {{metric: Politeness, expect: true}}
"""
# Records when collection ended and when the session ended (on the controller under xdist:
# when the last worker finished collecting).
TIMING_CONFTEST = """
import json, time, pathlib
import pytest

STAMPS = {}

def pytest_collection_finish(session):
    STAMPS.setdefault("collected", time.time())

@pytest.hookimpl(optionalhook=True)
def pytest_xdist_node_collection_finished(node, ids):
    STAMPS["collected"] = time.time()

def pytest_unconfigure(config):
    if hasattr(config, "workerinput"):
        return
    STAMPS["finished"] = time.time()
    pathlib.Path(__file__).with_name("timing.json").write_text(json.dumps(STAMPS))
"""


def write_suite(folder: Path, tests: int, runs: int = 1) -> None:
    (folder / "metrics.amigo.yaml").write_text(METRICS)
    (folder / "agent.py").write_text(AGENT)
    (folder / "conftest.py").write_text(TIMING_CONFTEST)
    body = "".join(TEST.format(index=i, runs=runs) for i in range(tests))
    (folder / "bench.amigo.yaml").write_text("simulation_unit_tests:\n" + body)


def run(folder: Path, latency: float, workers: int, extra: list[str]) -> dict[str, float]:
    command = pytest_command("-q")
    command += ["--amigo-offline-latency", str(latency), *extra]
    if workers:
        command += [*XDIST, "-n", str(workers)]
    env = environment(BENCH_AGENT_LATENCY=str(latency))
    start = time.time()
    done = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True)
    total = time.time() - start
    if done.returncode != 0:
        sys.exit(f"pytest failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    stamps = json.loads((folder / "timing.json").read_text())
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {
        "after_collection_s": round(stamps["finished"] - stamps["collected"], 3),
        "total_s": round(total, 3),
        "peak_rss_mb_so_far": round(peak, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tests", type=int, nargs="+", default=[20, 50])
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--xdist", type=int, nargs="+", default=[0])
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--model-concurrency", type=int, default=None)
    parser.add_argument("--output", type=Path, default=Path(__file__).with_name("results"))
    args = parser.parse_args()
    extra = []
    if args.model_concurrency:
        extra += ["--amigo-model-concurrency", str(args.model_concurrency)]
    rows = []
    for tests in args.tests:
        bound = 9 * args.latency
        if args.model_concurrency:  # the simulator is the busiest model: 4 calls a run
            bound = max(bound, tests * args.runs * 4 / args.model_concurrency * args.latency)
        for workers in args.xdist:
            with tempfile.TemporaryDirectory() as tmp:
                folder = Path(tmp)
                write_suite(folder, tests, args.runs)
                figures = run(folder, args.latency, workers, extra)
            row = {"tests": tests, "runs": args.runs, "xdist": workers, "bound_s": bound, **figures}
            row["ratio_to_bound"] = round(figures["after_collection_s"] / bound, 2)
            rows.append(row)
            print(
                f"N={tests:<4} runs={args.runs} -n {workers}: "
                f"{figures['after_collection_s']:.2f} s after "
                f"collection ({row['ratio_to_bound']}x the {bound:.2f} s bound), "
                f"{figures['total_s']:.2f} s in all, peak RSS {figures['peak_rss_mb_so_far']} MB"
            )
    args.output.mkdir(exist_ok=True)
    name = "concurrency.json" if not args.model_concurrency else "model_limit.json"
    (args.output / name).write_text(
        json.dumps({**describe(), "latency_s": args.latency, "rows": rows}, indent=2)
    )


if __name__ == "__main__":
    main()
