"""The store under concurrent processes: created atomically, one registration per session."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from pytest_amigo_metrics.ids import new_id
from pytest_amigo_metrics.models.llm import RetryPolicy
from pytest_amigo_metrics.once import forget
from pytest_amigo_metrics.session import AmigoSession
from pytest_amigo_metrics.settings import Settings
from pytest_amigo_metrics.store import Store
from pytest_amigo_metrics.suite.loader import LocatedMetric
from pytest_amigo_metrics.suite.spec import MetricSpec

OPEN_AND_REGISTER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from pytest_amigo_metrics.suite.spec import MetricSpec
    from pytest_amigo_metrics.store import Store

    store, go = Path(sys.argv[1]), Path(sys.argv[2])
    while not go.exists():
        time.sleep(0.001)
    spec = MetricSpec.model_validate(
        {"name": "Outcome", "description": "How it ended.",
         "metric_value": {"type": "categorical", "categories": ["resolved"]}}
    )
    print(Store(str(store)).register(spec).version)
    """
)


def test_a_fresh_store_is_created_atomically_by_racing_processes(tmp_path: Path) -> None:
    script = tmp_path / "open.py"
    script.write_text(OPEN_AND_REGISTER)
    for round_ in range(4):
        store, go = tmp_path / f"r{round_}" / "results.sqlite3", tmp_path / f"go{round_}"
        children = [
            subprocess.Popen(
                [sys.executable, str(script), str(store), str(go)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(6)
        ]
        time.sleep(1.0)  # every child imported and waiting
        go.touch()
        results = [child.communicate(timeout=60) for child in children]
        for child, (out, err) in zip(children, results, strict=True):
            assert child.returncode == 0, err
            assert out.strip() == "1"
        assert len(Store(store).versions(Store(store).metric("Outcome").id)) == 1  # type: ignore[union-attr]


def _session(root: Path, run_id: str, description: str) -> AmigoSession:
    settings = Settings(
        simulator_model=None,
        judge_model=None,
        agent_model=None,
        offline=True,
        store_path=root / "results.sqlite3",
        file_patterns=["*.amigo.yaml"],
        judge_retries=0,
        concurrency=1,
        retry=RetryPolicy(attempts=1),
    )
    session = AmigoSession(settings, run_id, root)
    spec = MetricSpec.model_validate(
        {"name": "Empathy", "description": description, "metric_value": {"type": "boolean"}}
    )
    assert session.registry.add(LocatedMetric(spec, root / "m.amigo.yaml", 2)) is None
    return session


def test_each_session_registers_once_whatever_its_workers_and_other_sessions_do(
    tmp_path: Path,
) -> None:
    """Sessions A and B declare different definitions and run at once, two workers each: A's
    second worker must use A's registration, not add a v3 equal to v1."""
    run_a, run_b = new_id(), new_id()
    a1, a2 = _session(tmp_path, run_a, "Warm?"), _session(tmp_path, run_a, "Warm?")
    b1 = _session(tmp_path, run_b, "Warm and kind?")
    try:
        a1.register_metrics()
        b1.register_metrics()
        a2.register_metrics()
        assert a1.registrations["Empathy"].version == a2.registrations["Empathy"].version == 1
        assert b1.registrations["Empathy"].version == 2
        store = Store(tmp_path / "results.sqlite3")
        metric = store.metric("Empathy")
        assert metric is not None and [v.version for v in store.versions(metric.id)] == [1, 2]
    finally:
        for session in (a1, a2, b1):
            session.close()
        forget(run_a)
        forget(run_b)


def test_store_accepts_a_string_path(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "s.sqlite3"))
    assert store.path == tmp_path / "s.sqlite3"
    assert store.evaluation_results().metric_evaluation_results == []


@pytest.mark.parametrize("workers", ["2"])
def test_xdist_workers_share_one_fresh_store(
    tmp_path: Path, workers: str, pytester: pytest.Pytester
) -> None:
    from conftest import Suite

    suite = Suite(pytester)
    suite.standard()
    for index in range(6):
        suite.unit_test(file=f"t{index}.amigo.yaml", name=f"t{index}")
    result = pytester.runpytest_subprocess("-p", "xdist", "-n", workers)
    result.assert_outcomes(passed=6)
    assert "store format" not in result.stdout.str()
    assert len(suite.rows("SELECT * FROM metric_versions")) == 3
