"""The end of a session, in the process that owns it (the controller under xdist): the run
record, the comparison with the baseline, and the JSON and HTML reports."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path

import pytest

from ..comparison import compare
from ..redact import redact
from ..runs import ctrl_c
from ..session import AmigoSession
from ..settings import Settings
from ..state import get_session
from ..store import RunNotFound, Store
from ..store.file_format import ORIGIN_PYTEST, unusable
from ..store.view import mark_same_definitions
from ..verdicts.outcomes import TestOutcome
from .model import Comparison, OutcomeCounts, SessionReport, SessionRun, build_report

# Settings that change how fast a session runs or where it writes, not what it measures.
NOT_RECORDED = frozenset(
    {
        "store_path",
        "file_patterns",
        "concurrency",
        "model_concurrency",
        "model_rpm",
        "offline_latency",
        "call_timeout",
        "turn_timeout",
        "conversation_timeout",
        "retry",
        "rate_window",
        "json_path",
        "html_path",
        "baseline",
        "fail_on_regression",
    }
)
STORE_ERRORS = (sqlite3.Error, OSError, pytest.UsageError)


@dataclass
class SessionEnd:
    """What the end of the session found, for the terminal."""

    baseline: SessionRun | None = None
    comparison: Comparison | None = None
    notes: list[str] = field(default_factory=list)  # reports written, what could not be done
    failed_by_regression: bool = False


END_KEY = pytest.StashKey[SessionEnd]()


def owns_session(config: pytest.Config) -> bool:
    """The controller, or a run without xdist (a worker has `workerinput`)."""
    return not hasattr(config, "workerinput")


def options_that_matter(settings: Settings) -> dict[str, str]:
    """The settings that change results (models, backend, judge...), as text, secrets scrubbed."""
    shown: dict[str, str] = {}
    for option in fields(settings):
        value = getattr(settings, option.name)
        unset = value is None or value is False or value in ("", {}, [])  # 0 is a value
        if option.name in NOT_RECORDED or unset:
            continue
        text = value if isinstance(value, str) else json.dumps(value, default=str)
        shown[option.name] = redact(text)
    return shown


def models_of(outcomes: list[TestOutcome]) -> dict[str, list[str]]:
    found: dict[str, set[str]] = {}
    for outcome in outcomes:
        for role, model in outcome.models.items():
            found.setdefault(role, set()).add(model)
    return {role: sorted(models) for role, models in found.items()}


def session_run(
    amigo: AmigoSession, ended: datetime | None = None, *, interrupted: bool = False
) -> SessionRun:
    counts = OutcomeCounts()
    for outcome in amigo.outcomes:
        setattr(counts, outcome.status, getattr(counts, outcome.status) + 1)
    return SessionRun(
        id=amigo.run_id,
        started_at=amigo.started_at,
        ended_at=ended,
        options=options_that_matter(amigo.settings),
        models=models_of(amigo.outcomes),
        counts=counts,
        interrupted=interrupted,
    )


def start_session(config: pytest.Config) -> None:
    """Find the baseline before any test runs: an unknown run id is a usage error."""
    amigo = get_session(config)
    ref = amigo.settings.baseline
    end = config.stash[END_KEY] = SessionEnd()
    if not ref or not owns_session(config):
        return
    path = amigo.settings.store_path
    if not path.exists():
        if ref != "latest":
            raise pytest.UsageError(
                f"--amigo-baseline {ref}: there is no results store at {path} yet; run the "
                "suite once without --amigo-baseline, or point --amigo-store at the store"
            )
        end.notes.append(f"amigo baseline: no earlier run in {path}: nothing to compare with")
        return
    try:
        baseline, origin = amigo.store.session_run(ref, exclude=amigo.run_id)
    except sqlite3.DatabaseError as exc:
        timeout = amigo.settings.store_timeout
        raise pytest.UsageError(f"--amigo-baseline {ref}: {unusable(path, exc, timeout)}") from None
    except RunNotFound as exc:
        if ref == "latest":
            end.notes.append(f"amigo baseline: {exc}: nothing to compare with")
            return
        raise pytest.UsageError(
            f"--amigo-baseline {ref}: {exc}; `python -m pytest_amigo_metrics runs` lists the "
            "recorded runs, or use --amigo-baseline latest"
        ) from None
    if origin != ORIGIN_PYTEST:
        raise pytest.UsageError(
            f"--amigo-baseline {ref}: that run was recorded by {origin}, which kept results but "
            "no verdicts; compare with a run recorded since (see `python -m "
            "pytest_amigo_metrics runs`)"
        )
    end.baseline = baseline


def finish_session(session: pytest.Session) -> None:
    """Record the run, compare it with the baseline, write the reports; a regression fails
    the session when --amigo-fail-on-regression asks."""
    config = session.config
    if not owns_session(config) or config.option.collectonly or END_KEY not in config.stash:
        return
    amigo, end = get_session(config), config.stash[END_KEY]
    settings = amigo.settings
    # An agent may have swallowed the KeyboardInterrupt of a Ctrl-C: still an interrupted run.
    interrupted = session.exitstatus == pytest.ExitCode.INTERRUPTED or ctrl_c.was_pressed()
    run = session_run(amigo, datetime.now(timezone.utc), interrupted=interrupted)
    if amigo.outcomes:
        try:
            amigo.store.save_session_run(run)
        except STORE_ERRORS as exc:
            end.notes.append(f"warning: the run record could not be stored ({exc})")
    if end.baseline is not None and not amigo.outcomes:
        # No test ran (collection errors, Ctrl-C, -k selecting none): every baseline test would
        # show as "not run", which says nothing about this change.
        end.notes.append("amigo baseline: no test ran: nothing to compare with")
    elif end.baseline is not None:
        try:
            before = amigo.store.test_outcomes(end.baseline.id)
        except (*STORE_ERRORS, ValueError) as exc:  # ValueError: a record that does not validate
            end.notes.append(f"amigo baseline: run {end.baseline.id} could not be read ({exc})")
        else:
            end.comparison = compare(end.baseline, before, amigo.outcomes)
            if settings.backend == "local":  # the store holds the metrics' versions
                mark_same_definitions(end.comparison, amigo.store)
    if settings.json_path is not None or settings.html_path is not None:
        report = build_report(run, amigo.outcomes, end.comparison)
        written = [write_report(report, settings.json_path, "JSON", write_json)]
        written.append(write_report(report, settings.html_path, "HTML", write_html))
        end.notes += [note for note in written if note]
    if any(note.startswith("error:") for note in end.notes) and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.USAGE_ERROR
    if settings.fail_on_regression and end.comparison and end.comparison.regressions:
        end.failed_by_regression = True
        if session.exitstatus == 0:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED


def write_json(report: SessionReport, path: Path) -> None:
    path.write_text(report.model_dump_json(indent=2) + "\n", encoding="utf-8")


def write_html(report: SessionReport, path: Path) -> None:
    """The HTML report's own module renders it (imported only when asked for)."""
    from .html import write_html as render_to

    render_to(report, path)


def write_report(
    report: SessionReport,
    path: Path | None,
    kind: str,
    write: Callable[[SessionReport, Path], None],
) -> str | None:
    """Write one report; the line the terminal shows about it."""
    if path is None:
        return None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write(report, path)
    except OSError as exc:
        return f"error: the {kind} report could not be written to {path} ({exc})"
    return f"amigo {kind} report: {path}"


def report_of_run(store: Store, run: SessionRun) -> SessionReport:
    """The report of a past run, from the store alone."""
    return build_report(run, store.test_outcomes(run.id))
