"""After pytest's collection: bind expectations, check models, register metrics.

Every problem found here is a collection error at the YAML line it concerns, reported before
any conversation starts; a session that stops at collection errors stores nothing.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ..errors import SpecProblem, shown_path
from ..items import SimulationItem
from ..roles import model_problems
from ..session import AmigoSession
from .catalog import Blocked


def prepare_items(
    amigo: AmigoSession, session: pytest.Session, items: list[pytest.Item]
) -> list[pytest.Item]:
    config = session.config
    for error in amigo.catalog.unreported():
        report_problems(error.problems, config)
    # Every problem of a test in one go: its expectations' and its models' (the latter need
    # litellm, and --collect-only never imports it; `validate` checks models itself).
    check_models = not config.option.collectonly
    seen: set[tuple[Path, int, str]] = set()
    kept: list[pytest.Item] = []
    for item in items:
        if not isinstance(item, SimulationItem):
            kept.append(item)
            continue
        try:
            item.checks, problems = amigo.resolve(item.unit_test, item.path)
        except Blocked:  # the declaring file's own collection error says what to fix
            continue
        shown = list(problems)
        if check_models:
            found = model_problems(amigo.settings, item.unit_test, item.path)
            shown += [p for p in found if (p.path, p.line, p.message) not in seen]
            seen.update((p.path, p.line, p.message) for p in found)
            problems = [*problems, *found]
        if shown:
            _report_item(item, shown, config)
        if not problems:
            kept.append(item)
    if not check_models or _stopping(session):
        return kept
    if not any(isinstance(i, SimulationItem) for i in kept):
        return kept
    refused = amigo.register_metrics()
    if refused:
        report_problems(list(refused.values()), config)
        kept = [i for i in kept if not _uses(i, refused)]
    return kept


def _stopping(session: pytest.Session) -> bool:
    """Collection errors stop the session (unless --continue-on-collection-errors)."""
    return bool(session.testsfailed) and not session.config.option.continue_on_collection_errors


def _report_item(item: pytest.Item, problems: list[SpecProblem], config: pytest.Config) -> None:
    longrepr = "\n".join(p.format(config.rootpath) for p in problems)
    config.hook.pytest_collectreport(
        report=pytest.CollectReport(item.nodeid, "failed", longrepr, [])
    )


def report_problems(problems: list[SpecProblem], config: pytest.Config) -> None:
    """A collection error for each file with problems, as pytest shows one for a file."""
    by_file: dict[Path, list[SpecProblem]] = {}
    for problem in problems:
        by_file.setdefault(problem.path, []).append(problem)
    for path, found in by_file.items():
        longrepr = "\n".join(p.format(config.rootpath) for p in found)
        nodeid = shown_path(path, config.rootpath).as_posix()
        config.hook.pytest_collectreport(
            report=pytest.CollectReport(nodeid, "failed", longrepr, [])
        )


def _uses(item: pytest.Item, refused: dict[str, SpecProblem]) -> bool:
    return isinstance(item, SimulationItem) and any(c.metric.name in refused for c in item.checks)
