"""JUnit XML <property> entries for a simulation unit test (via item.user_properties)."""

from __future__ import annotations

from ..metrics import format_value
from ..outcomes import TestOutcome


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
        found = [m for r in outcome.runs for m in r.metrics if m.metric == name]
        values = ", ".join(format_value(m.value) for m in found)
        props.append((f"amigo.metric.{name}", f"v{found[0].version}: {values}"))
    return props
