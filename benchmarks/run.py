"""Measure collection and offline run cost on a generated suite (no network, no API key).

    python3 benchmarks/run.py [--tests 200] [--runs 2] [--amigo]

Reports wall time and the peak memory (max RSS) of each pytest process: collection alone,
a serial offline run and a run under pytest-xdist with 2 workers. With --amigo, also the same
suite against an Amigo service on the fake Amigo API (rate limits lifted): the cost of the
SDK, the event streams and the sync/evaluate round trips, with the local and the Amigo judge.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

METRICS = """metrics:
  - name: Empathy Score
    description: Did the agent apologise, acknowledge the frustration and reassure?
    metric_value: {type: numerical, lower_bound: 1, upper_bound: 10}
  - name: Outcome
    description: Classify how the conversation ended.
    metric_value: {type: categorical, categories: [resolved, escalated, abandoned]}
  - name: Identity Verified
    description: Did the agent verify identity before account changes?
    metric_value: {type: boolean}
"""
AGENT = """def respond(messages):
    return ("I apologise and acknowledge the frustration; let me reassure you. I verify "
            "identity before account changes. This is resolved.")
"""
TEST = """  - name: case {index}
    persona: {{name: Sam, background: A busy customer.}}
    scenario: {{name: Reset, objective: Reset my password., instructions: Be brief.}}
    script: ["I forgot my password.", "The code is 1234.", "Thanks."]
    runs: {runs}
    metrics:
      - {{metric: Empathy Score, expect: ">= 7"}}
      - {{metric: Outcome, expect: resolved}}
      - {{metric: Identity Verified, expect: true}}
"""


SERVICE_ID = "6618791275130b73714e8d1c"
FAKE_CONFTEST = f"""
from pytest_amigo_metrics.testing import FakeAmigoAPI

fake = FakeAmigoAPI(enforce_rate_limits=False)
fake.add_service("{SERVICE_ID}", reply=lambda history: (
    "I apologise and acknowledge the frustration; let me reassure you. I verify "
    "identity before account changes. This is resolved."))

def pytest_configure(config):
    config.pluginmanager.register(fake.plugin())
"""


def write_suite(root: Path, tests: int, runs: int, *, amigo: bool = False) -> None:
    (root / "metrics.amigo.yaml").write_text(METRICS)
    (root / "agent.py").write_text(AGENT)
    body = "".join(TEST.format(index=i, runs=runs) for i in range(tests))
    target = f'{{amigo: {{service_id: "{SERVICE_ID}"}}}}' if amigo else '{python: "agent:respond"}'
    header = f"defaults:\n  target: {target}\nsimulation_unit_tests:\n"
    (root / "suite.amigo.yaml").write_text(header + body)
    if amigo:
        (root / "conftest.py").write_text(FAKE_CONFTEST)


def measure(root: Path, *args: str) -> tuple[float, float, str]:
    """Wall seconds, peak RSS in MB of the slowest child, and pytest's last line."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - start
    peak = max(before, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024
    last = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr[-200:]
    return elapsed, peak, last


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tests", type=int, default=200)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--amigo", action="store_true", help="also measure the Amigo backend")
    options = parser.parse_args()
    conversations = options.tests * options.runs
    print(f"suite: {options.tests} tests x {options.runs} runs = {conversations} conversations")
    scenarios = [
        ("collect only", False, ("--collect-only",)),
        ("offline run, serial", False, ()),
        ("offline run, -n 2", False, ("-p", "xdist", "-n", "2")),
    ]
    if options.amigo:
        lifted = ("--amigo-rate-window", "0.001")  # the fake enforces no limits either
        scenarios += [
            ("amigo target, serial", True, lifted),
            (
                "amigo backend+judge",
                True,
                (*lifted, "--amigo-backend", "amigo", "--amigo-judge", "amigo"),
            ),
        ]
    for label, amigo, args in scenarios:
        with tempfile.TemporaryDirectory() as folder:
            root = Path(folder)
            write_suite(root, options.tests, options.runs, amigo=amigo)
            elapsed, peak, last = measure(root, *args)
        per = (
            f"; {1000 * elapsed / conversations:.1f} ms per conversation"
            if args != ("--collect-only",)
            else ""
        )
        print(f"{label:22} {elapsed:6.2f} s{per}; peak RSS so far {peak:.0f} MB  [{last}]")


if __name__ == "__main__":
    main()
