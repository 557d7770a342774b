"""Every result is stored like the API's MetricEvaluationResultInstance, tagged with its version."""

from __future__ import annotations

import re
import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from conftest import METRICS, Suite
from pytest_amigo_metrics.records import EvaluationResult
from pytest_amigo_metrics.store import Store

HEX24 = re.compile(r"^[a-f0-9]{24}$")


def test_stored_results_have_the_api_shape_and_resolve_their_references(suite: Suite) -> None:
    suite.standard()
    suite.unit_test(
        runs=2,
        expectations=[
            '{metric: Empathy Score, expect: ">= 7"}',
            "{metric: Outcome, expect: resolved}",
            "{metric: Identity Verified, expect: true}",
        ],
    )
    suite.pytester.runpytest().assert_outcomes(passed=1)
    store = Store(suite.store)
    page = store.evaluation_results()
    results = page.metric_evaluation_results
    assert len(results) == 6 and page.has_more is False
    run_ids = {r.source.simulation_unit_test_set_run_id for r in results}
    assert len(run_ids) == 1
    assert {r.source.run_index for r in results} == {0, 1}
    for result in results:
        assert isinstance(result, EvaluationResult)
        assert HEX24.match(result.id) and HEX24.match(result.metric_id)
        assert result.source.type == "simulation" and result.metric_version == 1
        assert result.judge_model == "offline/judge"
        assert HEX24.match(result.source.unit_test_id)
        assert result.source.references, "the judge cites messages"
    by_metric = {store.metric(n).id: n for n in ("Empathy Score", "Outcome", "Identity Verified")}  # type: ignore[union-attr]
    values = {by_metric[r.metric_id]: r.result for r in results}
    assert values == {"Empathy Score": 10, "Outcome": "resolved", "Identity Verified": True}
    conversations = suite.rows("SELECT id FROM conversations")
    assert len(conversations) == 2
    message_ids = {m["id"] for row in conversations for m in store.conversation(row["id"])}
    assert all(ref in message_ids for r in results for ref in r.source.references)


def test_versions_follow_description_and_value_changes_across_sessions(suite: Suite) -> None:
    suite.standard()
    suite.unit_test()
    suite.pytester.runpytest().assert_outcomes(passed=1)
    first = Store(suite.store).metric("Empathy Score")
    assert first is not None and first.latest_version == 1

    suite.write("metrics.amigo.yaml", METRICS.replace("and reassure?", "and reassure the user?"))
    result = suite.pytester.runpytest("-v")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*Empathy Score v2 = *"])

    notes = METRICS.replace("and reassure?", "and reassure the user?").replace(
        "upper_bound: 10}",
        "upper_bound: 10}\n    additional_notes: 7+ is good.\n    tags: {team: support}",
    )
    suite.write("metrics.amigo.yaml", notes)
    suite.pytester.runpytest().assert_outcomes(passed=1)

    suite.write("metrics.amigo.yaml", notes.replace("upper_bound: 10", "upper_bound: 5"))
    suite.unit_test(expectations=['{metric: Empathy Score, expect: ">= 3"}'])
    suite.pytester.runpytest().assert_outcomes(passed=1)

    store = Store(suite.store)
    metric = store.metric("Empathy Score")
    assert metric is not None
    assert metric.id == first.id, "the id is stable for the same name"
    assert metric.latest_version == 3, "notes and tags do not make a version"
    assert metric.additional_notes == "7+ is good." and metric.tags[0].key == "team"
    versions = store.versions(metric.id)
    assert [v.version for v in versions] == [1, 2, 3]
    assert versions[2].metric_value.upper_bound == 5  # type: ignore[union-attr]
    tagged = {
        r.metric_version
        for r in store.evaluation_results(
            metric_id_and_version=metric.id + "-"
        ).metric_evaluation_results
    }
    assert tagged == {1, 2, 3}
    assert (
        len(
            store.evaluation_results(
                metric_id_and_version=f"{metric.id}-2"
            ).metric_evaluation_results
        )
        == 2
    )


def test_changing_the_value_type_is_a_collection_error_and_keeps_results(suite: Suite) -> None:
    suite.standard()
    suite.unit_test(expectations=["{metric: Outcome, expect: resolved}"])
    suite.pytester.runpytest().assert_outcomes(passed=1)
    suite.write(
        "metrics.amigo.yaml",
        METRICS.replace(
            "{type: categorical, categories: [resolved, escalated, abandoned]}", "{type: boolean}"
        ),
    )
    result = suite.pytester.runpytest()
    result.assert_outcomes(errors=1)  # the declaration, not every test that uses it
    result.stdout.fnmatch_lines(
        [
            "metrics.amigo.yaml:5: metrics[[]1].metric_value.type: metric 'Outcome' is stored as categorical*",
            "    fix: declare a new metric with a new name*",
        ]
    )
    assert result.stdout.str().count("metric 'Outcome'") == 1
    assert len(Store(suite.store).evaluation_results().metric_evaluation_results) == 1


def test_unit_test_id_is_stable_and_run_id_is_new_per_session(suite: Suite) -> None:
    suite.standard()
    suite.unit_test()
    suite.pytester.runpytest().assert_outcomes(passed=1)
    suite.pytester.runpytest().assert_outcomes(passed=1)
    rows = suite.rows(
        "SELECT DISTINCT unit_test_id, simulation_unit_test_set_run_id FROM evaluation_results"
    )
    assert len({r["unit_test_id"] for r in rows}) == 1
    assert len({r["simulation_unit_test_set_run_id"] for r in rows}) == 2


def test_results_page_like_the_api(suite: Suite) -> None:
    suite.standard()
    suite.unit_test(runs=5)
    suite.pytester.runpytest().assert_outcomes(passed=1)
    store = Store(suite.store)
    first = store.evaluation_results(limit=2)
    assert first.has_more and first.continuation_token == 2
    seen = [r.id for r in first.metric_evaluation_results]
    token = first.continuation_token
    while token is not None:
        page = store.evaluation_results(limit=2, continuation_token=token)
        seen += [r.id for r in page.metric_evaluation_results]
        token = page.continuation_token
    assert len(seen) == len(set(seen)) == 5
    newest = store.evaluation_results(sort_by="-created_at", limit=5).metric_evaluation_results
    assert [r.id for r in newest] == list(reversed(seen))
    assert store.evaluation_results(sort_by="created_at").metric_evaluation_results[0].id == seen[0]
    metric_ids = {r.metric_id for r in store.evaluation_results().metric_evaluation_results}
    assert first.filter_values is not None and first.filter_values.metric_ids == sorted(metric_ids)
    assert page.filter_values is None  # the first page's only, as the API's
    empty = store.evaluation_results(limit=0)  # a paginator following it ends
    assert (empty.metric_evaluation_results, empty.has_more, empty.continuation_token) == (
        [],
        False,
        None,
    )


def test_results_query_takes_the_apis_lists_and_time_bounds(suite: Suite) -> None:
    suite.standard()
    both = ['{metric: Empathy Score, expect: ">= 1"}', "{metric: Outcome, expect: resolved}"]
    suite.unit_test(runs=2, expectations=both)
    suite.pytester.runpytest().assert_outcomes(passed=1)
    suite.pytester.runpytest().assert_outcomes(passed=1)
    store = Store(suite.store)
    every = store.evaluation_results().metric_evaluation_results
    runs = sorted({r.source.simulation_unit_test_set_run_id for r in every})
    metrics = sorted({r.metric_id for r in every})
    assert len(every) == 8 and len(runs) == 2 and len(metrics) == 2

    def ids(**query: Any) -> list[str]:
        return [r.id for r in store.evaluation_results(**query).metric_evaluation_results]

    assert ids(simulation_unit_test_set_run_id=runs) == [r.id for r in every]
    assert len(ids(simulation_unit_test_set_run_id=runs[:1])) == 4
    assert len(ids(metric_id_and_version=[f"{metrics[0]}-1", f"{metrics[1]}-"])) == 8
    assert len(ids(metric_id_and_version=[f"{metrics[0]}-1"])) == 4
    assert ids(metric_id_and_version=f"{metrics[0]}-0") == []  # no version 0: no results
    assert len(ids(metric_id_and_version=f"{metrics[0]}-01")) == 4  # read as the number 1
    assert ids(sort_by=["-created_at", "+created_at"]) == [r.id for r in reversed(every)]
    second = every[4].created_at  # the second session's first result (results share stamps)
    after = [r.id for r in every if r.created_at >= second]
    before = [r.id for r in every if r.created_at <= second]
    assert 0 < len(after) < 8 and 0 < len(before) < 8
    assert ids(timestamp_after=second) == after  # inclusive
    assert ids(timestamp_before=second) == before
    same = [r.id for r in every if r.created_at == second]
    text = second.astimezone(timezone(timedelta(hours=-5))).isoformat()  # as the API takes it
    assert ids(timestamp_after=text, timestamp_before=text) == same
    assert ids(simulation_unit_test_set_run_id=[runs[0], runs[0]]) == ids(  # read as a set
        simulation_unit_test_set_run_id=runs[0]
    )


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"limit": 501}, "limit must be between 0 and 500"),
        ({"continuation_token": -3}, "continuation_token must be 0 or a page's"),
        ({"sort_by": "updated_at"}, "sort_by must be +created_at or -created_at"),
        ({"metric_id_and_version": "0" * 24}, "must be '<metric_id>-<version>'"),
        ({"metric_id_and_version": "0" * 24 + "-abc"}, "must be '<metric_id>-<version>'"),
        ({"metric_id_and_version": "0" * 24 + "-1-2"}, "must be '<metric_id>-<version>'"),
        ({"simulation_unit_test_set_run_id": "run-1"}, "must be a run id (24 lowercase hex"),
        ({"simulation_unit_test_set_run_id": "A" * 24}, "must be a run id (24 lowercase hex"),
        ({"simulation_unit_test_set_run_id": ""}, "must be a run id (24 lowercase hex"),
        ({"simulation_unit_test_set_run_id": ["a" * 24, "run-1"]}, "must be a run id"),
        (
            {"metric_id_and_version": "0" * 24 + "-" + "9" * 20},
            "version 99999999999999999999 is out",
        ),
        (
            {"timestamp_after": datetime(2026, 1, 1)},
            "timestamp_after must be an ISO 8601 time with its",
        ),
        ({"timestamp_before": "yesterday"}, "timestamp_before must be an ISO 8601 time with its"),
        ({"sort_by": ["-created_at", "updated_at"]}, "sort_by must be +created_at or"),
    ],
)
def test_results_query_refuses_what_the_api_refuses(
    tmp_path: Path, arguments: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        Store(tmp_path / "s.sqlite3").evaluation_results(**arguments)


def test_custom_store_path_from_the_command_line(suite: Suite) -> None:
    suite.standard()
    suite.unit_test()
    suite.pytester.runpytest("--amigo-store", "out/x.sqlite3").assert_outcomes(passed=1)
    assert (suite.path / "out" / "x.sqlite3").exists() and not suite.store.exists()


def test_an_unusable_store_stops_the_session_and_is_left_untouched(suite: Suite) -> None:
    suite.standard()
    suite.unit_test()
    suite.store.parent.mkdir(parents=True)
    suite.store.write_bytes(b"not a database")
    result = suite.pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: *results.sqlite3 is not a usable SQLite store*"])
    assert suite.store.read_bytes() == b"not a database"


def test_a_store_of_another_format_is_refused(suite: Suite) -> None:
    suite.standard()
    suite.unit_test()
    suite.pytester.runpytest().assert_outcomes(passed=1)
    db = sqlite3.connect(suite.store)
    db.execute("PRAGMA user_version = 99")
    db.close()
    result = suite.pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: *holds results in store format 99*point --amigo-store at a new file*"]
    )
    assert len(suite.rows("SELECT * FROM evaluation_results")) == 1
