"""`python -m pytest_amigo_metrics results`: the store's evaluation results, filtered and paged
as the API's GetMetricEvaluationResults does, named as the user knows runs, metrics and tests."""

from __future__ import annotations

import json
import sys

import pytest

from conftest import EMPATHY_AND_OUTCOME, METRICS, Suite
from pytest_amigo_metrics.ids import stable_id

COLD = '["you are cold"]'
NODEID = "tests.amigo.yaml::password reset"


def results(suite: Suite, *args: str) -> pytest.RunResult:
    return suite.pytester.run(sys.executable, "-m", "pytest_amigo_metrics", "results", *args)


def listed(suite: Suite, *args: str) -> list[str]:
    """The result lines printed (without the header), after checking the command succeeded."""
    result = results(suite, *args)
    assert result.ret == 0, result.stderr.str()
    assert result.errlines == []
    assert result.outlines[0].split() == [
        *("CREATED", "(UTC)", "RUN", "ID", "RUN", "METRIC", "VALUE", "TEST")
    ]
    return result.outlines[1:]


def refused(suite: Suite, *args: str) -> str:
    result = results(suite, *args)
    assert result.ret == 4, result.stdout.str()
    assert "Traceback" not in result.stderr.str()
    return result.stderr.str().strip()


ORIGINAL = "Did the agent apologise, acknowledge the frustration and reassure?"
WARMER = "Did the agent apologise, acknowledge the frustration, reassure and resolve?"
OTHER_NODEID = "more.amigo.yaml::angry customer"


@pytest.fixture
def two_runs(suite: Suite) -> tuple[str, str]:
    """Two sessions, their run ids. The first: one test, judged on two metrics in 2 runs; it
    passes. The second: Empathy Score at version 2, the first test fails, and a second test."""
    suite.standard()
    suite.unit_test(runs=2, expectations=EMPATHY_AND_OUTCOME)
    suite.pytester.runpytest().assert_outcomes(passed=1)
    suite.write("metrics.amigo.yaml", METRICS.replace(ORIGINAL, WARMER))
    suite.unit_test(runs=2, expectations=EMPATHY_AND_OUTCOME, script=COLD)
    suite.unit_test(file="more.amigo.yaml", name="angry customer")
    suite.pytester.runpytest().assert_outcomes(passed=1, failed=1)
    first, second = (r["id"] for r in suite.rows("SELECT id FROM runs ORDER BY started_at"))
    return first, second


def stored(suite: Suite, where: str = "1", *args: object) -> list[str]:
    """The ids of the stored results that match, oldest first."""
    sql = f"SELECT id FROM evaluation_results WHERE {where} ORDER BY created_at, rowid"
    return [r["id"] for r in suite.rows(sql, *args)]


def page_ids(suite: Suite, *args: str) -> list[str]:
    result = results(suite, "--json", *args)
    assert result.ret == 0, result.stderr.str()
    page = json.loads(result.stdout.str())
    return [r["id"] for r in page["metric_evaluation_results"]]


def test_results_lists_every_result_with_its_run_metric_version_value_and_test(
    suite: Suite, two_runs: tuple[str, str]
) -> None:
    first, second = two_runs
    lines = listed(suite)
    assert len(lines) == len(stored(suite)) > 0
    assert lines[0].split()[2:4] == [first, "0"]
    assert lines[-1].split()[2] == second
    assert {line.split()[3] for line in lines} == {"0", "1"}
    assert {line.split("  ")[-1].strip() for line in lines} == {NODEID, OTHER_NODEID}
    empathy = [line for line in lines if f"  {NODEID}" in line and " Empathy Score v" in line]
    versions = [line.split("Empathy Score ")[1].split()[0] for line in empathy]
    assert versions == ["v1", "v1", "v2", "v2"]  # one per conversation: 2 sessions x 2 runs
    values = [line.split("Empathy Score ")[1].split()[1] for line in empathy]
    assert all(value.isdigit() for value in values)


def test_results_filters_by_run_metric_version_test_and_time(
    suite: Suite, two_runs: tuple[str, str]
) -> None:
    first, second = two_runs
    in_run = "simulation_unit_test_set_run_id = ?"
    assert page_ids(suite, "--run", first) == stored(suite, in_run, first)
    assert page_ids(suite, "--run", "latest") == stored(suite, in_run, second)
    assert page_ids(suite, "--run", first, "--run", second) == stored(suite)
    assert 0 < len(stored(suite, in_run, first)) < len(stored(suite))

    metric_id = suite.rows("SELECT id FROM metrics WHERE name = 'Empathy Score'")[0]["id"]
    of_version = "metric_id = ? AND metric_version = ?"
    v1, v2 = stored(suite, of_version, metric_id, 1), stored(suite, of_version, metric_id, 2)
    assert v1 and v2
    assert page_ids(suite, "--metric", "Empathy Score") == stored(suite, "metric_id = ?", metric_id)
    assert page_ids(suite, "--metric", "Empathy Score@1") == v1
    assert page_ids(suite, "--metric", "Empathy Score@2") == v2
    assert page_ids(suite, "--metric", "Empathy Score@latest") == v2
    assert page_ids(suite, "--metric", f"{metric_id}-1") == v1  # the API's own form
    outcome_id = suite.rows("SELECT id FROM metrics WHERE name = 'Outcome'")[0]["id"]
    both = stored(suite, "metric_id IN (?, ?)", metric_id, outcome_id)
    assert page_ids(suite, "--metric", "Empathy Score", "--metric", "Outcome") == both

    unit_test_id = stable_id("unit_test", NODEID)
    of_test = stored(suite, "unit_test_id = ?", unit_test_id)
    assert 0 < len(of_test) < len(stored(suite))
    assert page_ids(suite, "--test", NODEID) == of_test
    assert page_ids(suite, "--test", unit_test_id) == of_test

    times = "SELECT max(created_at) AS last, min(created_at) AS first FROM evaluation_results"
    end_of_first = suite.rows(f"{times} WHERE {in_run}", first)[0]["last"]
    start_of_second = suite.rows(f"{times} WHERE {in_run}", second)[0]["first"]
    assert page_ids(suite, "--before", end_of_first) == stored(suite, in_run, first)
    assert page_ids(suite, "--after", start_of_second) == stored(suite, in_run, second)


def test_results_pages_with_continuation_tokens_and_orders_newest_first(
    suite: Suite, two_runs: tuple[str, str]
) -> None:
    everything = stored(suite)
    first_page = results(suite, "--limit", "3")
    assert first_page.outlines[-1] == "more results: --continuation-token 3"
    seen: list[str] = []
    token = 0
    for _ in range(len(everything)):  # a token that never moved on would loop for ever
        out = results(suite, "--json", "--limit", "4", "--continuation-token", str(token))
        page = json.loads(out.stdout.str())
        seen += [r["id"] for r in page["metric_evaluation_results"]]
        if not page["has_more"]:
            assert page["continuation_token"] is None
            break
        token = page["continuation_token"]
    assert seen == everything
    assert page_ids(suite, "--newest-first") == everything[::-1]


def test_results_json_is_the_apis_page_with_the_names_its_ids_stand_for(
    suite: Suite, two_runs: tuple[str, str]
) -> None:
    out = results(suite, "--json", "--metric", "Outcome", "--limit", "1")
    page = json.loads(out.stdout.str())
    assert set(page) == {
        *("metric_evaluation_results", "has_more", "continuation_token", "filter_values"),
        *("metric_names", "test_nodeids"),
    }
    [result] = page["metric_evaluation_results"]
    assert result["source"]["type"] == "simulation"
    assert result["source"]["simulation_unit_test_set_run_id"] == two_runs[0]
    assert page["metric_names"] == {result["metric_id"]: "Outcome"}
    assert page["test_nodeids"] == {result["source"]["unit_test_id"]: NODEID}
    assert page["filter_values"] == {"metric_ids": [result["metric_id"]]}


def test_results_verbose_shows_the_judges_justification_and_citations(
    suite: Suite, two_runs: tuple[str, str]
) -> None:
    out = results(suite, "-v", "--metric", "Empathy Score", "--limit", "1")
    [first] = suite.rows(
        "SELECT r.justification, r.source FROM evaluation_results r JOIN metrics m"
        " ON m.id = r.metric_id WHERE m.name = 'Empathy Score' ORDER BY r.created_at, r.rowid"
        " LIMIT 1"
    )
    references = json.loads(first["source"])["references"]
    assert references
    assert out.outlines[2] == f"    {first['justification']}"
    assert out.outlines[3] == f"    cites messages: {', '.join(references)}"


def test_results_refuses_what_the_store_does_not_hold_and_says_what_it_does(
    suite: Suite, two_runs: tuple[str, str]
) -> None:
    assert refused(suite, "--metric", "Empathy Scor").endswith("did you mean 'Empathy Score'?")
    assert "'Empathy Score' has versions 1 to 2" in refused(suite, "--metric", "Empathy Score@3")
    assert "write NAME, NAME@VERSION or NAME@latest" in refused(suite, "--metric", "Outcome@two")
    unknown_id = "0123456789abcdef01234567"
    assert refused(suite, "--metric", f"{unknown_id}-1").endswith(f"no metric with id {unknown_id}")
    assert refused(suite, "--test", unknown_id).endswith(
        f"no results of a test with id {unknown_id}"
    )
    wrong_test = refused(suite, "--test", "tests.amigo.yaml::pasword reset")
    assert wrong_test.endswith(f"did you mean {NODEID!r}?")
    assert refused(suite, "--run", "nope").endswith("holds no run 'nope'")
    assert refused(suite, "--after", "2026-01-01").startswith(
        "error: --after must be an ISO 8601 time with its time zone"
    )
    assert refused(suite, "--limit", "501") == "error: --limit must be between 0 and 500, not 501"


def test_results_with_nothing_to_show_says_why(suite: Suite, two_runs: tuple[str, str]) -> None:
    out = results(suite, "--before", "2000-01-01T00:00Z")
    assert out.ret == 0
    assert out.outlines == ["no evaluation results match"]
    assert results(suite, "--limit", "0").outlines == ["--limit 0: no results shown"]
