"""The terminal summary: one line per test with its pass rate and interval, the details of
what did not pass, and with -v per metric values per run, models, tokens and cost."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

from ..models.llm import is_offline
from ..suite.metrics import format_value
from ..verdicts.judge_samples import LOW_AGREEMENT, is_low
from ..verdicts.outcomes import TestOutcome, Usage
from .model import pass_rate_of

OFFLINE_LABEL = "offline provider: deterministic heuristics, not a real model's judgement"


def _values(outcome: TestOutcome, metric: str, expectation: str) -> tuple[str, int, int]:
    values, version, passed, seen = [], "", 0, 0
    for run in outcome.runs:
        for m in run.metrics:
            if (m.metric, m.expectation) == (metric, expectation):
                values.append(format_value(m.value))
                version = f"v{m.version}"
                passed += m.passed
                seen += 1
    counts = Counter(values)
    shown = (
        ", ".join(values)
        if len(values) <= 6
        else ", ".join(f"{v} x{n}" for v, n in counts.most_common())
    )
    return f"{version} = {shown}", passed, seen


def percent(share: float) -> str:
    return f"{share * 100:.0f} %"


def headline(outcome: TestOutcome) -> str:
    """`PASSED  file::name  3/5 runs passed (60 %, 95 % CI 23-88 %), required 60 %`."""
    return (
        f"{outcome.status.upper():7} {outcome.nodeid}  {pass_rate_of(outcome).describe()}, "
        f"required {percent(outcome.min_pass_rate)}"
    )


def format_cost(cost: float) -> str:
    """Dollars with two significant digits below a cent ($0.0000045), cents above."""
    if cost == 0:
        return "$0"
    if cost >= 0.01:
        return f"${cost:,.2f}"
    return f"${cost:.{1 - math.floor(math.log10(cost))}f}"


def describe_usage(usage: Usage) -> str:
    """`12 model calls (3 replayed), 1,801 tokens (1,234 prompt + 567 completion), $0.0012`."""
    replayed = f" ({usage.replayed_calls} replayed)" if usage.replayed_calls else ""
    tokens = usage.prompt_tokens + usage.completion_tokens
    cost = (
        format_cost(usage.cost_usd)
        if usage.cost_usd is not None
        else f"cost unknown (no price known for {', '.join(usage.unpriced_models) or 'a model'})"
    )
    return (
        f"{usage.calls} model call{'s' if usage.calls != 1 else ''}{replayed}, {tokens:,} tokens "
        f"({usage.prompt_tokens:,} prompt + {usage.completion_tokens:,} completion), {cost}"
    )


def low_agreement(outcome: TestOutcome) -> list[str]:
    """`Empathy Score run 1: 3/5 samples agree (60 %)` for each verdict below the threshold."""
    return [
        f"{m.metric} run {run.run_index}: {round(m.agreement * len(m.samples))}/{len(m.samples)} "
        f"samples agree ({percent(m.agreement)})"
        for run in outcome.runs
        for m in run.metrics
        if m.agreement is not None and is_low(m.agreement)
    ]


def _metric_line(outcome: TestOutcome, name: str, expectation: str) -> str:
    """One expectation over the runs (a metric may have several: `>= 3` and `<= 8`)."""
    values, passed, seen = _values(outcome, name, expectation)
    line = f"        {name} {values}; expected {expectation}; {passed}/{seen} met"
    agreements = [
        m.agreement
        for r in outcome.runs
        for m in r.metrics
        if (m.metric, m.expectation) == (name, expectation) and m.samples
    ]
    if agreements:
        line += "; judge agreement " + ", ".join(percent(a or 0.0) for a in agreements)
    return line


def _test_lines(outcome: TestOutcome, *, verbose: bool) -> list[str]:
    lines = [headline(outcome)]
    details = verbose or outcome.status != "passed"
    if details and outcome.models:  # none known for a test whose xdist worker crashed
        models = ", ".join(f"{role} {model}" for role, model in outcome.models.items())
        lines.append(f"        models: {models}")
    # A wait alone fails nothing; a test in error may have waited before it gave up.
    verdict = "" if outcome.status == "error" else ": slowed, not failed"
    if outcome.model_wait >= 0.05:
        lines.append(
            f"        waited {outcome.model_wait:.1f}s for model rate limits "
            f"(requests per minute, or a pause the provider asked for){verdict}"
        )
    if outcome.rate_limit_wait >= 0.05:
        lines.append(
            f"        waited {outcome.rate_limit_wait:.1f}s for the Amigo API's limits "
            "(requests per minute, one open conversation per user)"
            + verdict.replace("slowed", "queued")
        )
    uncertain = low_agreement(outcome)
    if uncertain:
        lines.append(
            f"        low judge agreement (below {percent(LOW_AGREEMENT)}): " + "; ".join(uncertain)
        )
    if outcome.recording:
        lines.append(f"        calls: {outcome.recording} (--amigo-record-mode)")
    if details:
        checks = dict.fromkeys((m.metric, m.expectation) for r in outcome.runs for m in r.metrics)
        lines += [_metric_line(outcome, name, expectation) for name, expectation in checks]
        for run in outcome.runs:
            if run.error:
                lines.append(f"        run {run.run_index}: error: {error_headline(run.error)}")
        for problem in (outcome.store_error, outcome.recording_error):
            if problem:
                lines.append(f"        error: {error_headline(problem)}")
    if verbose:
        lines.append(f"        usage: {describe_usage(outcome.usage)}")
    return lines


def error_headline(error: str, width: int = 240) -> str:
    """An error's first line for the summary; a line that announces what follows ("... after 3
    attempts:") takes the next one along, so that it says why."""
    lines = [line.strip() for line in error.splitlines() if line.strip()] or [""]
    first = lines[0]
    if first.endswith(":") and len(lines) > 1:
        first = f"{first} {lines[1]}"
    return first if len(first) <= width else first[: width - 1] + "…"


def summary_lines(
    outcomes: list[TestOutcome], run_id: str, store: Path | None, *, verbosity: int = 0
) -> list[str]:
    """One line per test (pytest's verbosity: 0 and -1), with the details of those that did
    not pass; with -v every test's details; with -qq the passed tests in one line."""
    lines = [f"simulation unit test set run {run_id}" + (f"; results in {store}" if store else "")]
    shown = [o for o in outcomes if verbosity > -2 or o.status != "passed"]
    for outcome in shown:  # in the order they ran
        lines += _test_lines(outcome, verbose=verbosity > 0)
    if len(shown) < len(outcomes):
        passed = len(outcomes) - len(shown)
        lines.append(f"PASSED  {passed} test{'s' * (passed != 1)}, not listed one by one under -qq")
    unstored = sum(o.unstored for o in outcomes)
    if unstored:
        lines.append(f"warning: {unstored} results could not be stored in {store}")
    lines.append(f"total: {describe_usage(sum((o.usage for o in outcomes), Usage()))}")
    if any(is_offline(m) for o in outcomes for m in o.models.values()):
        lines.append(f"note: roles marked offline/... used the built-in {OFFLINE_LABEL}")
    return lines
