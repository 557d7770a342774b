"""What the store commands print and write, from the results store alone."""

from __future__ import annotations

import difflib
import unicodedata

from ..comparison import compare
from ..errors import printable
from ..records import MetricVersionRecord
from ..report.model import Comparison, SessionReport, SessionRun, build_report
from ..report.terminal import summary_lines
from ..suite.metrics import describe_value_space
from .database import Store
from .errors import StoreError
from .file_format import ORIGIN_PYTEST

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
            f"verdicts; `results --run {run.id}` lists its results"
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
    return lines + summary_lines(outcomes, run.id, store.path, verbosity=1)


def past_report(store: Store, ref: str, baseline_ref: str | None = None) -> SessionReport:
    run = recorded_run(store, ref)
    outcomes = store.test_outcomes(run.id)
    comparison = None
    if baseline_ref is not None:
        baseline = recorded_run(store, baseline_ref)
        comparison = compare(baseline, store.test_outcomes(baseline.id), outcomes)
        mark_same_definitions(comparison, store)
    return build_report(run, outcomes, comparison)


def compare_runs(store: Store, baseline_ref: str, ref: str) -> Comparison:
    baseline, run = recorded_run(store, baseline_ref), recorded_run(store, ref)
    comparison = compare(baseline, store.test_outcomes(baseline.id), store.test_outcomes(run.id))
    mark_same_definitions(comparison, store)
    return comparison


def _definition(version: MetricVersionRecord) -> tuple[str, str]:
    """What a version asks the judge: two versions with the same measure the same thing."""
    return version.description, version.metric_value.model_dump_json()


def mark_same_definitions(comparison: Comparison, store: Store) -> None:
    """Two versions of a metric that declare the same description and value space (a change
    undone) measure the same thing: not flagged as a version change."""
    definitions: dict[str, dict[int, tuple[str, str]]] = {}
    for test in comparison.tests:
        for metric in test.metrics:
            if metric.baseline_version is None or metric.version in (None, metric.baseline_version):
                continue
            if metric.metric_name not in definitions:
                record = store.metric(metric.metric_name)
                versions = store.versions(record.id) if record is not None else []
                definitions[metric.metric_name] = {v.version: _definition(v) for v in versions}
            known = definitions[metric.metric_name]
            before, after = known.get(metric.baseline_version), known.get(metric.version or 0)
            metric.same_definition = before is not None and before == after


def did_you_mean(given: str, known: list[str]) -> str:
    """What to add to "the store holds no ...": the closest name it holds, or all of them."""
    close = difflib.get_close_matches(given, known, n=1)
    if close:
        return printable(f"; did you mean {close[0]!r}?")
    return printable(f"; recorded: {', '.join(sorted(known))}") if known else "; it holds none"


def metric_lines(store: Store, name: str | None = None) -> list[str]:
    """Every metric with its latest version; or one metric's versions, each with what it
    asked the judge (a version that repeats an earlier one says so)."""
    names = store.metric_names()
    if not names:
        return [f"no metrics recorded in {store.path}"]
    name = unicodedata.normalize("NFC", name) if name is not None else None
    if name is None:
        lines = [f"{'METRIC':32}  {'TYPE':11}  LATEST"]
        for each in names:
            record = store.metric(each)
            if record is not None:
                lines.append(f"{each:32}  {record.metric_value_type:11}  v{record.latest_version}")
        return lines
    record = store.metric(name)
    if record is None:
        raise StoreError(f"{store.path} holds no metric {name!r}{did_you_mean(name, names)}")
    lines = [f"{record.name} ({record.metric_value_type}, id {record.id})"]
    seen: dict[tuple[str, str], int] = {}
    for version in store.versions(record.id):
        definition = _definition(version)
        again = f"  (the same as v{seen[definition]})" if definition in seen else ""
        seen.setdefault(definition, version.version)
        lines.append(
            f"v{version.version}  {version.created_at:{TIME}} UTC  "
            f"{describe_value_space(version.metric_value)}{again}"
        )
        lines.append(f"    {version.description}")
    return lines
