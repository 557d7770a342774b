"""The terminal summary: per test, per metric, versions, values per run, pass rates, models."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from ..llm import is_offline
from ..metrics import format_value
from ..outcomes import TestOutcome

OFFLINE_LABEL = "offline provider: deterministic heuristics, not a real model's judgement"


def _values(outcome: TestOutcome, metric: str) -> tuple[str, str, int, int]:
    values, version, expectation, passed, seen = [], "", "", 0, 0
    for run in outcome.runs:
        for m in run.metrics:
            if m.metric == metric:
                values.append(format_value(m.value))
                version, expectation = f"v{m.version}", m.expectation
                passed += m.passed
                seen += 1
    counts = Counter(values)
    shown = (
        ", ".join(values)
        if len(values) <= 6
        else ", ".join(f"{v} x{n}" for v, n in counts.most_common())
    )
    return f"{version} = {shown}", expectation, passed, seen


def summary_lines(
    outcomes: list[TestOutcome], run_id: str, store: Path | None, *, quiet: bool = False
) -> list[str]:
    """Per test, per metric; `quiet` keeps one line for each passed test."""
    lines = [f"simulation unit test set run {run_id}" + (f"; results in {store}" if store else "")]
    for outcome in outcomes:  # in the order they ran
        lines.append(
            f"{outcome.status.upper():7} {outcome.nodeid}  "
            f"{outcome.passed_runs}/{len(outcome.runs)} runs passed "
            f"(required {outcome.min_pass_rate:.0%})"
        )
        waited = outcome.rate_limit_wait >= 0.05 or outcome.model_wait >= 0.05
        if quiet and outcome.status == "passed" and not waited:
            continue
        models = ", ".join(f"{role} {model}" for role, model in outcome.models.items())
        lines.append(f"        models: {models}")
        if outcome.model_wait >= 0.05:
            lines.append(
                f"        waited {outcome.model_wait:.1f}s for model rate limits "
                "(requests per minute, or a pause the provider asked for): slowed, not failed"
            )
        if outcome.rate_limit_wait >= 0.05:
            lines.append(
                f"        waited {outcome.rate_limit_wait:.1f}s for the Amigo API's limits "
                "(requests per minute, one open conversation per user): queued, not failed"
            )
        if outcome.recording:
            lines.append(f"        calls: {outcome.recording} (--amigo-record-mode)")
        names = list(dict.fromkeys(m.metric for r in outcome.runs for m in r.metrics))
        for name in names:
            values, expectation, passed, seen = _values(outcome, name)
            lines.append(f"        {name} {values}; expected {expectation}; {passed}/{seen} met")
        for run in outcome.runs:
            if run.error:
                lines.append(f"        run {run.run_index}: error: {run.error.splitlines()[0]}")
    unstored = sum(o.unstored for o in outcomes)
    if unstored:
        lines.append(f"warning: {unstored} results could not be stored in {store}")
    if any(is_offline(m) for o in outcomes for m in o.models.values()):
        lines.append(f"note: roles marked offline/... used the built-in {OFFLINE_LABEL}")
    return lines
