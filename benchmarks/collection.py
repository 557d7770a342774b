"""Benchmark 3: collection of 5,000 simulation unit tests in 50 files.

    python3 benchmarks/collection.py [--files 50] [--tests-per-file 100]

Reports the wall time of `pytest --collect-only -q` (median of 3), the same for as many plain
pytest functions, and whether litellm was imported (it must not be). Figures go to
benchmarks/results/collection.json as well.
"""

from __future__ import annotations

import argparse
import json
import statistics
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
"""
TEST = """  - name: case {index}
    persona: {{name: Sam, background: A busy customer.}}
    scenario: {{name: Reset, objective: Reset my password., instructions: Be brief.}}
    script: ["I forgot my password."]
    target: {{python: "agent:respond"}}
    metrics:
      - {{metric: Outcome, expect: resolved}}
"""
CHECK_IMPORTS = """
import json, pathlib, sys

def pytest_unconfigure(config):
    pathlib.Path(__file__).with_name("imports.json").write_text(
        json.dumps({"litellm": "litellm" in sys.modules})
    )
"""


def yaml_suite(folder: Path, files: int, per_file: int) -> None:
    (folder / "metrics.amigo.yaml").write_text(METRICS)
    (folder / "agent.py").write_text("def respond(messages):\n    return 'resolved'\n")
    (folder / "conftest.py").write_text(CHECK_IMPORTS)
    for number in range(files):
        body = "".join(TEST.format(index=i) for i in range(per_file))
        (folder / f"suite_{number}.amigo.yaml").write_text("simulation_unit_tests:\n" + body)


def python_suite(folder: Path, files: int, per_file: int) -> None:
    for number in range(files):
        body = "".join(f"def test_{i}():\n    pass\n\n" for i in range(per_file))
        (folder / f"test_{number}.py").write_text(body)


def collect(folder: Path) -> float:
    times = []
    for _ in range(3):
        start = time.time()
        done = subprocess.run(
            pytest_command("--collect-only", "-q"),
            env=environment(),
            cwd=folder,
            capture_output=True,
            text=True,
        )
        times.append(time.time() - start)
        if done.returncode != 0:
            sys.exit(done.stdout[-2000:] + done.stderr[-2000:])
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=50)
    parser.add_argument("--tests-per-file", type=int, default=100)
    parser.add_argument("--output", type=Path, default=Path(__file__).with_name("results"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as yaml_dir, tempfile.TemporaryDirectory() as py_dir:
        yaml_suite(Path(yaml_dir), args.files, args.tests_per_file)
        python_suite(Path(py_dir), args.files, args.tests_per_file)
        yaml_time = collect(Path(yaml_dir))
        imported = json.loads((Path(yaml_dir) / "imports.json").read_text())["litellm"]
        python_time = collect(Path(py_dir))
    total = args.files * args.tests_per_file
    print(
        f"{total} YAML tests in {args.files} files: {yaml_time:.2f} s "
        f"(plain pytest functions: {python_time:.2f} s); litellm imported: {imported}"
    )
    args.output.mkdir(exist_ok=True)
    (args.output / "collection.json").write_text(
        json.dumps(
            {
                **describe(model_calls=False),
                "tests": total,
                "files": args.files,
                "yaml_collect_s": round(yaml_time, 3),
                "python_collect_s": round(python_time, 3),
                "litellm_imported": imported,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
