"""The local store's evaluation results, queried as the API's GetMetricEvaluationResults
pages them: its filters, its order, its limits and continuation tokens, and its refusals."""

from __future__ import annotations

import json
import re
import sqlite3

from ..records import (
    LOCAL_ORG,
    EvaluationResult,
    ResultFilterValues,
    ResultsPage,
    SimulationEvaluationSource,
)

_RESULT_ORDERS = {"+created_at": "ASC", "created_at": "ASC", "-created_at": "DESC"}
_OBJECT_ID = re.compile(r"[a-f0-9]{24}")  # the API's `^[a-f0-9]{24}$`
_METRIC_AND_VERSION = re.compile(r"([0-9a-f]{24})-([1-9][0-9]*)?")


def _metric_and_version(text: str) -> tuple[str, int | None]:
    found = _METRIC_AND_VERSION.fullmatch(text)
    if found is None:
        raise ValueError(
            f"metric_id_and_version must be '<metric_id>-<version>' (an empty version: any), "
            f"e.g. '{'0' * 24}-2' or '{'0' * 24}-', not {text!r}"
        )
    return found[1], int(found[2]) if found[2] else None


def results_page(
    db: sqlite3.Connection,
    *,
    simulation_unit_test_set_run_id: str | None = None,
    metric_id_and_version: str | None = None,
    unit_test_id: str | None = None,
    sort_by: str = "+created_at",
    limit: int = 500,
    continuation_token: int = 0,
) -> ResultsPage:
    """Pages like GetMetricEvaluationResults: `metric_id_and_version` is `<id>-<version>`
    (an empty version: any), `sort_by` `+created_at` or `-created_at`; a bad argument is
    a ValueError, where the API answers 422."""
    if not 0 <= limit <= 500:
        raise ValueError(f"limit must be between 0 and 500, not {limit}")
    if continuation_token < 0:
        raise ValueError(
            f"continuation_token must be 0 or a page's continuation_token, not {continuation_token}"
        )
    if sort_by not in _RESULT_ORDERS:
        raise ValueError(f"sort_by must be +created_at or -created_at, not {sort_by!r}")
    if simulation_unit_test_set_run_id is not None and not _OBJECT_ID.fullmatch(
        simulation_unit_test_set_run_id
    ):
        raise ValueError(
            "simulation_unit_test_set_run_id must be a run id (24 lowercase hex characters), "
            f"not {simulation_unit_test_set_run_id!r}"
        )
    where = ["source_type = 'simulation'"]
    args: list[object] = []
    if simulation_unit_test_set_run_id is not None:
        where.append("simulation_unit_test_set_run_id = ?")
        args.append(simulation_unit_test_set_run_id)
    if unit_test_id:
        where.append("unit_test_id = ?")
        args.append(unit_test_id)
    if metric_id_and_version is not None:
        metric_id, version = _metric_and_version(metric_id_and_version)
        where.append("metric_id = ?")
        args.append(metric_id)
        if version:
            where.append("metric_version = ?")
            args.append(version)
    order = _RESULT_ORDERS[sort_by]
    matching = f"FROM evaluation_results WHERE {' AND '.join(where)}"
    rows = db.execute(
        f"SELECT * {matching} ORDER BY created_at {order}, rowid {order} LIMIT ? OFFSET ?",
        (*args, limit + 1, continuation_token),
    ).fetchall()
    has_more = limit > 0 and len(rows) > limit
    filter_values = None
    if continuation_token == 0:
        ids = db.execute(f"SELECT DISTINCT metric_id {matching}", args).fetchall()
        filter_values = ResultFilterValues(metric_ids=sorted(r[0] for r in ids))
    results = [
        EvaluationResult(
            id=r["id"],
            org_id=LOCAL_ORG,
            created_at=r["created_at"],
            updated_at=r["updated_at"],
            metric_id=r["metric_id"],
            metric_version=r["metric_version"],
            result=json.loads(r["result"]),
            justification=r["justification"],
            source=SimulationEvaluationSource.model_validate_json(r["source"]),
            judge_model=r["judge_model"],
        )
        for r in rows[:limit]
    ]
    return ResultsPage(
        metric_evaluation_results=results,
        has_more=has_more,
        continuation_token=continuation_token + limit if has_more else None,
        filter_values=filter_values,
    )
