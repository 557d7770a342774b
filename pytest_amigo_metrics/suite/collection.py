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
    items = [i for i in items if _bind(amigo, i, config)]
    if config.option.collectonly or not any(isinstance(i, SimulationItem) for i in items):
        return items
    if _stopping(session):
        return items
    seen: set[tuple[Path, int, str]] = set()
    items = [i for i in items if not _has_model_problems(amigo, i, config, seen)]
    if _stopping(session):
        return items
    refused = amigo.register_metrics()
    if refused:
        report_problems(list(refused.values()), config)
        items = [i for i in items if not _uses(i, refused)]
    return items


def _stopping(session: pytest.Session) -> bool:
    """Collection errors stop the session (unless --continue-on-collection-errors)."""
    return bool(session.testsfailed) and not session.config.option.continue_on_collection_errors


def _bind(amigo: AmigoSession, item: pytest.Item, config: pytest.Config) -> bool:
    """Bind the item's expectations to their metrics; False (after reporting) if it can't."""
    if not isinstance(item, SimulationItem):
        return True
    try:
        item.checks, problems = amigo.resolve(item.unit_test, item.path)
    except Blocked:  # the declaring file's own collection error says what to fix
        return False
    if problems:
        _report_item(item, problems, config)
    return not problems


def _has_model_problems(
    amigo: AmigoSession, item: pytest.Item, config: pytest.Config, seen: set[tuple[Path, int, str]]
) -> bool:
    """Models no provider accepts, once for a declaration that many tests share."""
    if not isinstance(item, SimulationItem):
        return False
    found = model_problems(amigo.settings, item.unit_test, item.path)
    problems = [p for p in found if (p.path, p.line, p.message) not in seen]
    seen.update((p.path, p.line, p.message) for p in found)
    if problems:
        _report_item(item, problems, config)
    return bool(found)


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
