"""JUnit XML <property> entries for a simulation unit test (via item.user_properties)."""

from __future__ import annotations

from ..suite.metrics import format_value
from ..verdicts.judge_samples import is_low
from ..verdicts.outcomes import RunOutcome, TestOutcome, Usage
from .model import pass_rate_of
from .terminal import low_agreement


def junit_properties(outcome: TestOutcome) -> list[tuple[str, str]]:
    props = [
        ("amigo.unit_test_id", outcome.unit_test_id),
        ("amigo.simulation_unit_test_set_run_id", outcome.simulation_unit_test_set_run_id),
        ("amigo.pass_rate", f"{outcome.passed_runs}/{len(outcome.runs)}"),
        ("amigo.min_pass_rate", f"{outcome.min_pass_rate:g}"),
    ]
    props += [(f"amigo.model.{role}", model) for role, model in outcome.models.items()]
    if outcome.recording:
        props.append(("amigo.recording", outcome.recording))
    if outcome.model_wait:
        props.append(("amigo.model_limit_wait_seconds", f"{outcome.model_wait:.1f}"))
    if outcome.rate_limit_wait:
        props.append(("amigo.rate_limit_wait_seconds", f"{outcome.rate_limit_wait:.1f}"))
    names = dict.fromkeys(m.metric for r in outcome.runs for m in r.metrics)
    for name in names:
        # A run's verdict once, however many expectations name the metric.
        per_run = ([m for m in r.metrics if m.metric == name] for r in outcome.runs)
        found = [verdicts[0] for verdicts in per_run if verdicts]
        values = ", ".join(format_value(m.value) for m in found)
        props.append((f"amigo.metric.{name}", f"v{found[0].version}: {values}"))
    low, high = pass_rate_of(outcome).interval_95
    props.append(("amigo.pass_rate_interval_95", f"{low:.3f}-{high:.3f}"))
    for run in outcome.runs:
        props += _run_properties(run)
    props += _usage_properties(outcome.usage)
    uncertain = low_agreement(outcome)
    if uncertain:
        props.append(("amigo.low_judge_agreement", "; ".join(uncertain)))
    return props


def _run_properties(run: RunOutcome) -> list[tuple[str, str]]:
    """Per run and metric: the value, met or unmet, the expectation; the judge's samples and
    agreement when it was asked several times; the justification of what made a run fail."""
    prefix = f"amigo.run.{run.run_index}"
    props: list[tuple[str, str]] = []
    for m in run.metrics:
        met = "met" if m.passed else "unmet"
        value = f"{format_value(m.value)}; {met}; expected {m.expectation}"
        props.append((f"{prefix}.{m.metric}", value))
        if m.samples:
            shown = ", ".join(format_value(v) for v in m.samples)
            flag = "; low" if is_low(m.agreement) else ""
            props.append((f"{prefix}.{m.metric}.agreement", f"{m.agreement:.2f} ({shown}){flag}"))
        if not m.passed:
            props.append((f"{prefix}.{m.metric}.justification", m.justification))
    if run.error:
        props.append((f"{prefix}.error", run.error))
    return props


def _usage_properties(usage: Usage) -> list[tuple[str, str]]:
    cost = "unknown" if usage.cost_usd is None else f"{usage.cost_usd:.10f}".rstrip("0").rstrip(".")
    props = [
        ("amigo.usage.calls", str(usage.calls)),
        ("amigo.usage.prompt_tokens", str(usage.prompt_tokens)),
        ("amigo.usage.completion_tokens", str(usage.completion_tokens)),
        ("amigo.usage.cost_usd", cost),
    ]
    if usage.replayed_calls:
        props.append(("amigo.usage.replayed_calls", str(usage.replayed_calls)))
    if usage.unpriced_models:
        props.append(("amigo.usage.unpriced_models", ", ".join(usage.unpriced_models)))
    return props
