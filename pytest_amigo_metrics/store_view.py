"""What the store commands print and write, from the results store alone."""

from __future__ import annotations

from .comparison import compare
from .report.model import Comparison, SessionReport, SessionRun, build_report
from .report.terminal import summary_lines
from .store import Store, StoreError
from .store_format import ORIGIN_PYTEST

TIME = "%Y-%m-%d %H:%M:%S"
HEAD = f"{'RUN ID':24}  {'STARTED (UTC)':19}  {'ENDED (UTC)':19}  PASSED FAILED ERROR  MODELS"


def _models(run: SessionRun) -> str:
    return "; ".join(f"{role} {', '.join(models)}" for role, models in run.models.items())


def run_lines(store: Store) -> list[str]:
    runs = store.session_runs()
    if not runs:
        return [f"no runs recorded in {store.path}"]
    lines = [HEAD]
    for run, origin in runs:
        ended = f"{run.ended_at:{TIME}}" if run.ended_at else "(not recorded)"
        ended = "(interrupted)" if run.interrupted else ended
        c = run.counts
        counts = f"{c.passed:6} {c.failed:6} {c.error:5}" if origin == ORIGIN_PYTEST else " " * 19
        line = f"{run.id:24}  {run.started_at:{TIME}}  {ended:19}  {counts}  {_models(run)}"
        lines.append(line if origin == ORIGIN_PYTEST else f"{line}  [{origin}: results only]")
    return lines


def recorded_run(store: Store, ref: str) -> SessionRun:
    """A run recorded by a pytest session with its verdicts (format 2)."""
    run, origin = store.session_run(ref)
    if origin != ORIGIN_PYTEST:
        raise StoreError(
            f"run {run.id} was recorded by {origin}, which kept its results but not its tests' "
            "verdicts; `Store.evaluation_results(simulation_unit_test_set_run_id=...)` reads them"
        )
    return run


def show_lines(store: Store, ref: str) -> list[str]:
    run = recorded_run(store, ref)
    ended = f", ended {run.ended_at:{TIME}} UTC" if run.ended_at else ", end not recorded"
    ended += " (interrupted: the tests not listed never ran)" if run.interrupted else ""
    c = run.counts
    lines = [
        f"run {run.id}: started {run.started_at:{TIME}} UTC{ended}; "
        f"{c.passed} passed, {c.failed} failed, {c.error} error",
    ]
    if run.options:
        lines.append("options: " + ", ".join(f"{k}={v}" for k, v in run.options.items()))
    outcomes = store.test_outcomes(run.id)
    if not outcomes:
        return [*lines, "no test outcomes recorded for this run"]
    return lines + summary_lines(outcomes, run.id, store.path, verbose=True)


def past_report(store: Store, ref: str, baseline_ref: str | None = None) -> SessionReport:
    run = recorded_run(store, ref)
    outcomes = store.test_outcomes(run.id)
    comparison = None
    if baseline_ref is not None:
        baseline = recorded_run(store, baseline_ref)
        comparison = compare(baseline, store.test_outcomes(baseline.id), outcomes)
    return build_report(run, outcomes, comparison)


def compare_runs(store: Store, baseline_ref: str, ref: str) -> Comparison:
    baseline, run = recorded_run(store, baseline_ref), recorded_run(store, ref)
    return compare(baseline, store.test_outcomes(baseline.id), store.test_outcomes(run.id))
