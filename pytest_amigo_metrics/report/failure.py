"""The text of a failed or errored simulation unit test."""

from __future__ import annotations

import textwrap

from ..errors import printable
from ..models.llm import is_offline
from ..suite.metrics import format_value
from ..verdicts.outcomes import MetricOutcome, RunOutcome, TestOutcome


def _percent(rate: float) -> str:
    return f"{rate:.0%}"


def headline(outcome: TestOutcome) -> str:
    runs = len(outcome.runs)
    return (
        f"{outcome.passed_runs} of {runs} run{'s' if runs != 1 else ''} met every expectation "
        f"(pass rate {_percent(outcome.pass_rate)}, required {_percent(outcome.min_pass_rate)})"
    )


def _quote(text: str, width: int = 100) -> str:
    flat = " ".join(text.split())
    return textwrap.shorten(flat, width=width, placeholder=" ...")


def _metric_lines(run: RunOutcome, metric: MetricOutcome) -> list[str]:
    mark = "ok  " if metric.passed else "FAIL"
    offline = " (offline provider)" if is_offline(metric.judge_model) else ""
    lines = [
        f"  {mark} {metric.metric} v{metric.version} = {format_value(metric.value)}; "
        f"expected {metric.expectation}  [judge {metric.judge_model}{offline}]"
    ]
    if metric.passed:
        return lines
    lines.append(f"       justification: {printable(_quote(metric.justification, 300))}")
    for ref in metric.references:
        message = run.message(ref)
        said = f"{message.role}: {_quote(message.content)!r}" if message else "(not in transcript)"
        lines.append(f"       [{ref}] {said}")
    return lines


def failure_text(outcome: TestOutcome) -> str:
    lines = [f"simulation unit test {outcome.name!r} failed: {headline(outcome)}"]
    for run in outcome.runs:
        if run.passed:
            continue
        lines.append(
            f"run {run.run_index} (conversation {run.conversation_id}, "
            f"{len(run.messages)} messages, ended: {run.end_reason}):"
        )
        for metric in run.metrics:
            lines += _metric_lines(run, metric)
    return "\n".join(lines)


def error_text(outcome: TestOutcome) -> str:
    """Why the test is an error: its results not stored, its recording not written, runs that
    ended in error; and, when its runs all ran, how they met the expectations."""
    lines: list[str] = []
    if outcome.store_error:
        lines.append(
            f"simulation unit test {outcome.name!r} ran, but its "
            f"{outcome.unstored} results were not stored: {outcome.store_error} "
            "(infrastructure, not a quality failure)"
        )
    if outcome.recording_error:
        stored = "" if outcome.store_error else " and its results are stored"
        lines.append(
            f"simulation unit test {outcome.name!r} ran{stored}, but "
            f"{outcome.recording_error} (infrastructure, not a quality failure)"
        )
    errored = [r for r in outcome.runs if r.error]
    if errored:
        others = (
            "; results of the other runs are stored" if len(errored) < len(outcome.runs) else ""
        )
        lines.append(
            f"simulation unit test {outcome.name!r} could not be evaluated: "
            f"{len(errored)} of {len(outcome.runs)} runs ended in error "
            f"(not a quality failure{others})"
        )
        lines += [f"run {run.run_index}: {run.error}" for run in errored]
    elif outcome.pass_rate < outcome.min_pass_rate:  # the quality failure it also is
        lines.append(failure_text(outcome))
    return "\n".join(lines)
