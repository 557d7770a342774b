"""What the benchmarks record of the machine they ran on.

Besides the cores and the Python, the CPU one model call costs there: an offline model's
call through the plugin and litellm at zero latency, measured in its own process. What the
latency benchmarks spend above their bound is mostly that CPU on one core, so their ratios
are only comparable between machines together with it (one virtual machine measured 1.2 ms,
another 2.7 ms, with the same releases).
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys

CALLS = 400
IN_FLIGHT = 50

# Runs in a child process: the plugin's own call path (its loop executor, its litellm set-up),
# 50 calls in flight at a time as in benchmark 1, CPU time over the calls after a warm-up.
PROBE = f"""
import asyncio, json, time
from pytest_amigo_metrics.models.llm import ModelEndpoint, RetryPolicy, complete, load_litellm
from pytest_amigo_metrics.models.request_setup import SessionExecutor

load_litellm()
endpoint = ModelEndpoint("offline/agent")
messages = [{{"role": "user", "content": "Where is my order?"}}]

async def batch():
    await asyncio.gather(*(
        complete(endpoint, messages, role="agent", retry=RetryPolicy())
        for _ in range({IN_FLIGHT})
    ))

async def main():
    asyncio.get_running_loop().set_default_executor(SessionExecutor())
    await batch()
    start = time.process_time()
    for _ in range({CALLS // IN_FLIGHT}):
        await batch()
    print(json.dumps((time.process_time() - start) / {CALLS} * 1000))

asyncio.run(main())
"""


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def model_call_cpu_ms() -> float | None:
    """CPU milliseconds per model call, or None when the probe fails."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        capture_output=True,
        text=True,
        env={**os.environ, "AMIGO_METRICS_OFFLINE_LATENCY": "0"},
    )
    if done.returncode != 0:
        print(f"the model call probe failed:\n{done.stderr[-2000:]}", file=sys.stderr)
        return None
    return round(float(json.loads(done.stdout.strip().splitlines()[-1])), 2)


def describe(*, model_calls: bool = True) -> dict[str, object]:
    """The machine, for a results file; with `model_calls`, what a model call costs there
    (printed too)."""
    machine: dict[str, object] = {
        "machine": (
            f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
        ),
        "cpu": cpu_model(),
    }
    if model_calls:
        per_call = model_call_cpu_ms()
        if per_call is not None:
            print(f"CPU per model call through litellm on this machine: {per_call:.2f} ms")
        machine["model_call_cpu_ms"] = per_call
    return machine
