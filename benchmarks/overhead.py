"""Benchmark 4: the plugin's own cost per item, with a model that answers at once.

    python3 benchmarks/overhead.py [--tests 1000]

Runs N single-turn, single-metric simulation unit tests on the offline provider (no injected
latency) and N bare pytest functions, and reports (wall of the first - wall of the second) / N:
what one conversation test costs over a bare pytest item (litellm's call path twice, the
judge's validation, the SQLite writes, the reports). Figures go to
benchmarks/results/overhead.json as well.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from collection import METRICS, TEST  # the same single-turn, single-metric test
from isolated import environment, pytest_command
from machine import describe


def timed(folder: Path) -> float:
    start = time.time()
    done = subprocess.run(
        pytest_command("-q"),
        env=environment(),
        cwd=folder,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        sys.exit(done.stdout[-2000:] + done.stderr[-2000:])
    return time.time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tests", type=int, default=1000)
    parser.add_argument("--output", type=Path, default=Path(__file__).with_name("results"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as yaml_dir, tempfile.TemporaryDirectory() as py_dir:
        suite = Path(yaml_dir)
        (suite / "metrics.amigo.yaml").write_text(METRICS)
        (suite / "agent.py").write_text("def respond(messages):\n    return 'resolved'\n")
        body = "".join(TEST.format(index=i) for i in range(args.tests))
        (suite / "t.amigo.yaml").write_text("simulation_unit_tests:\n" + body)
        bare = Path(py_dir)
        (bare / "test_bare.py").write_text(
            "".join(f"def test_{i}():\n    pass\n\n" for i in range(args.tests))
        )
        yaml_wall, bare_wall = timed(suite), timed(bare)
    per_item = (yaml_wall - bare_wall) / args.tests * 1000
    print(
        f"{args.tests} conversation tests: {yaml_wall:.2f} s; {args.tests} bare pytest items: "
        f"{bare_wall:.2f} s; {per_item:.2f} ms per item over a bare one"
    )
    args.output.mkdir(exist_ok=True)
    (args.output / "overhead.json").write_text(
        json.dumps(
            {
                **describe(),
                "tests": args.tests,
                "yaml_wall_s": round(yaml_wall, 3),
                "bare_wall_s": round(bare_wall, 3),
                "ms_per_item_over_bare": round(per_item, 2),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
