"""The local store's evaluation results, queried as the API's GetMetricEvaluationResults
pages them: its filters, its order, its limits and continuation tokens, and its refusals."""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Sequence
from datetime import datetime, timezone

from pydantic import AwareDatetime, TypeAdapter, ValidationError

from ..records import (
    LOCAL_ORG,
    EvaluationResult,
    ResultFilterValues,
    ResultsPage,
    SimulationEvaluationSource,
)

_ORDERS = {"+created_at": "ASC", "created_at": "ASC", "-created_at": "DESC"}
_OBJECT_ID = re.compile(r"[a-f0-9]{24}")  # the API's `^[a-f0-9]{24}$`
_LARGEST_VERSION = 2**63 - 1  # SQLite's integers
_TIMESTAMP: TypeAdapter[datetime] = TypeAdapter(AwareDatetime)
_METRIC_AND_VERSION = re.compile(r"([0-9a-f]{24})-([0-9]*)")

# The API's array parameters: one value, or several (a result matches any of them).
Values = str | Sequence[str]


def _values(given: Values | None) -> list[str]:
    """The values, each once (the API reads these parameters as sets)."""
    values = [given] if isinstance(given, str) else list(given or [])
    return list(dict.fromkeys(values))


def _metric_and_version(text: str) -> tuple[str, int | None]:
    found = _METRIC_AND_VERSION.fullmatch(text)
    if found is None:
        raise ValueError(
            f"metric_id_and_version must be '<metric_id>-<version>' (an empty version: any), "
            f"e.g. '{'0' * 24}-2' or '{'0' * 24}-', not {text!r}"
        )
    version = int(found[2]) if found[2] else None
    if version is not None and version > _LARGEST_VERSION:
        raise ValueError(f"metric_id_and_version: version {found[2]} is out of range")
    return found[1], version


def _run_id(text: str) -> str:
    if not _OBJECT_ID.fullmatch(text):
        raise ValueError(
            f"simulation_unit_test_set_run_id must be a run id (24 lowercase hex characters), "
            f"not {text!r}"
        )
    return text


def _order(sort_by: Values) -> str:
    """`+created_at` or `-created_at`; later keys only break ties, and there are none left."""
    keys = _values(sort_by) or ["+created_at"]
    for key in keys:
        if key not in _ORDERS:
            raise ValueError(f"sort_by must be +created_at or -created_at, not {key!r}")
    return _ORDERS[keys[0]]


def _any_of(conditions: list[tuple[str, list[object]]]) -> tuple[str, list[object]]:
    sql = " OR ".join(f"({condition})" for condition, _ in conditions)
    return f"({sql})", [arg for _, args in conditions for arg in args]


def results_page(
    db: sqlite3.Connection,
    *,
    simulation_unit_test_set_run_id: Values | None = None,
    metric_id_and_version: Values | None = None,
    unit_test_id: str | None = None,
    timestamp_after: datetime | str | None = None,
    timestamp_before: datetime | str | None = None,
    sort_by: Values = "+created_at",
    limit: int = 500,
    continuation_token: int = 0,
) -> ResultsPage:
    """Pages like GetMetricEvaluationResults. `simulation_unit_test_set_run_id` and
    `metric_id_and_version` take one value or a list (any of them matches);
    `metric_id_and_version` is `<id>-<version>` (an empty version: any); `timestamp_after` and
    `timestamp_before` (a datetime or ISO 8601 text, with its time zone) bound `created_at`,
    inclusive; `sort_by` is `+created_at` or `-created_at`. An argument the API answers 422 to
    is a ValueError."""
    if not 0 <= limit <= 500:
        raise ValueError(f"limit must be between 0 and 500, not {limit}")
    if continuation_token < 0:
        raise ValueError(
            f"continuation_token must be 0 or a page's continuation_token, not {continuation_token}"
        )
    order = _order(sort_by)
    run_ids = _values(simulation_unit_test_set_run_id)
    runs = [_run_id(r) for r in run_ids]
    metrics = _values(metric_id_and_version)
    pairs = [_metric_and_version(m) for m in metrics]
    where = ["source_type = 'simulation'"]
    args: list[object] = []
    if runs:
        where.append(f"simulation_unit_test_set_run_id IN ({', '.join('?' * len(runs))})")
        args.extend(runs)
    if unit_test_id:
        where.append("unit_test_id = ?")
        args.append(unit_test_id)
    if pairs:
        sql, pair_args = _any_of(
            [
                ("metric_id = ?", [metric_id])
                if version is None
                else ("metric_id = ? AND metric_version = ?", [metric_id, version])
                for metric_id, version in pairs
            ]
        )
        where.append(sql)
        args.extend(pair_args)
    bounds = (
        ("timestamp_after", timestamp_after, ">="),
        ("timestamp_before", timestamp_before, "<="),
    )
    for name, bound, operator in bounds:
        if bound is not None:
            where.append(f"created_at {operator} ?")
            args.append(_stored_form(name, bound))
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


def _stored_form(name: str, moment: datetime | str) -> str:
    """The moment as timestamps are stored (UTC, isoformat), which sort as text in time
    order, to the microsecond. Like the API's, it must say its time zone."""
    try:
        aware = _TIMESTAMP.validate_python(moment)
    except ValidationError as exc:
        problem = exc.errors()[0]["msg"]
        raise ValueError(f"{name} must be an ISO 8601 time with its time zone: {problem}") from None
    return aware.astimezone(timezone.utc).isoformat()
