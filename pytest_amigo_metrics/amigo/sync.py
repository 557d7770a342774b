"""Declared metrics into the organization: created when missing, a new version when the
description or value specifiers changed, an update for notes, tags and services."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any, Literal

from amigo_sdk.generated.model import (
    CreateMetricVersionParametersQuery,
    GetMetricsParametersQuery,
    GetMetricVersionsParametersQuery,
    MetricCreateMetricRequest,
    MetricCreateMetricVersionRequest,
    MetricInstance,
    MetricUpdateMetricRequest,
)

from ..errors import SpecProblem
from ..store import Registration
from ..suite.metrics import MetricRegistry
from ..suite.spec import MetricSpec
from .client import AmigoAPI
from .errors import AmigoAPIError
from .metric_resource import with_tags

Action = Literal["created", "new version", "updated", "unchanged"]
VERSION_RACE_ATTEMPTS = 3


@dataclass(frozen=True)
class SyncedMetric:
    name: str
    metric_id: str
    version: int
    actions: tuple[Action, ...]


class MetricTypeConflict(Exception):
    def __init__(self, name: str, stored: str, declared: str) -> None:
        super().__init__(
            f"metric {name!r} is {stored} in the Amigo organization; a metric's value type "
            "never changes"
        )
        self.name = name
        self.stored = stored
        self.declared = declared


class DeletedMetric(Exception):
    def __init__(self, name: str) -> None:
        super().__init__(
            f"metric {name!r} was deleted in the Amigo organization, and a metric name is never "
            "reused"
        )
        self.name = name


def _value(metric_value: Any) -> dict[str, Any]:
    """Comparable form: bounds as floats, so 10 and 10.0 are the same specifier."""
    data = dict(metric_value)
    for bound in ("lower_bound", "upper_bound"):
        if bound in data:
            data[bound] = float(data[bound])
    return data


async def live_metrics(api: AmigoAPI, *, deleted: bool = False) -> dict[str, MetricInstance]:
    """The organization's metrics by name (every page): the live ones, or the deleted ones."""

    async def listing() -> dict[str, MetricInstance]:
        query = GetMetricsParametersQuery(limit=50, is_deleted=deleted)
        return {m.name: m async for m in api.metrics.iter_metrics(query)}

    return await api.call("get-metrics", listing)


async def sync_metric(
    api: AmigoAPI, spec: MetricSpec, existing: dict[str, MetricInstance]
) -> SyncedMetric:
    """Bring one declared metric into the organization; `existing`: live_metrics()."""
    metric = existing.get(spec.name)
    if metric is None:
        return await _create(api, spec)
    if metric.metric_value_type.value != spec.metric_value.type:
        raise MetricTypeConflict(spec.name, metric.metric_value_type.value, spec.metric_value.type)
    actions: list[Action] = []
    version, matches = await _latest_version(api, metric.id, spec)
    if not matches:
        version = await _new_version(api, metric.id, spec, version + 1)
        actions.append("new version")
    changes = _detail_changes(spec, metric)
    if changes:
        await _update(api, metric.id, changes)
        actions.append("updated")
    return SyncedMetric(spec.name, metric.id, version, tuple(actions) or ("unchanged",))


DETAILS = ("applied_to_services", "additional_notes", "tags")


def _detail_changes(spec: MetricSpec, metric: MetricInstance) -> dict[str, Any]:
    """The notes, tags and services the YAML sets and the organization holds otherwise. A key
    the YAML leaves out is left as it is (the API updates only what is set): the metric may
    be shared with services and people outside this suite."""
    stored = {
        "applied_to_services": list(metric.applied_to_services),
        "additional_notes": metric.additional_notes,
        "tags": {t.key: t.value for t in metric.tags},
    }
    declared = spec.model_dump(mode="json", include=set(DETAILS) & spec.model_fields_set)
    return {key: value for key, value in declared.items() if value != stored[key]}


async def _latest_version(api: AmigoAPI, metric_id: str, spec: MetricSpec) -> tuple[int, bool]:
    """The metric's latest version, and whether it is what `spec` declares."""
    latest = await api.call(
        "get-metric-versions",
        lambda: api.metrics.get_metric_versions(
            metric_id, GetMetricVersionsParametersQuery(version="latest")
        ),
        metric_id=metric_id,
    )
    current = latest.metric_versions[0]
    declared_value = _value(spec.metric_value.model_dump(mode="json"))
    stored_value = _value(current.metric_value.root.model_dump(mode="json"))
    return current.version, (current.description, stored_value) == (
        spec.description,
        declared_value,
    )


async def _create(api: AmigoAPI, spec: MetricSpec) -> SyncedMetric:
    body = with_tags(
        MetricCreateMetricRequest,
        {
            "name": spec.name,
            "applied_to_services": list(spec.applied_to_services),
            "additional_notes": spec.additional_notes,
            "tags": dict(spec.tags),
            "initial_version_metric_value": {
                "description": spec.description,
                "metric_value": spec.metric_value.model_dump(mode="json"),
            },
        },
    )
    try:
        created = await api.call("create-metric", lambda: api.metrics.create_metric(body))
    except AmigoAPIError as exc:
        if exc.status != 409:
            raise
        # The name exists: deleted (names are never reused), or created meanwhile elsewhere.
        if spec.name in await live_metrics(api, deleted=True):
            raise DeletedMetric(spec.name) from None
        live = await live_metrics(api)
        if spec.name not in live:
            raise
        return await sync_metric(api, spec, live)
    return SyncedMetric(spec.name, created.id, 1, ("created",))


async def _new_version(api: AmigoAPI, metric_id: str, spec: MetricSpec, expected: int) -> int:
    body = MetricCreateMetricVersionRequest.model_validate(
        {"description": spec.description, "metric_value": spec.metric_value.model_dump(mode="json")}
    )
    attempt = 1
    while True:
        try:
            # With the expected version the API refuses (409) if another session got there
            # first; the version it made is then read, and taken when it is the same change.
            created = await api.call(
                "create-metric-version",
                partial(
                    api.metrics.create_metric_version,
                    metric_id,
                    body,
                    CreateMetricVersionParametersQuery(version=expected),
                ),
                metric_id=metric_id,
            )
            return created.version
        except AmigoAPIError as exc:
            if exc.status != 409 or attempt == VERSION_RACE_ATTEMPTS:
                raise
        latest, matches = await _latest_version(api, metric_id, spec)
        if matches:
            return latest
        expected = latest + 1
        attempt += 1


async def _update(api: AmigoAPI, metric_id: str, changes: dict[str, Any]) -> None:
    body = with_tags(MetricUpdateMetricRequest, changes)
    await api.call(
        "update-metric", lambda: api.metrics.update_metric(metric_id, body), metric_id=metric_id
    )


async def sync_report(api: AmigoAPI, specs: list[MetricSpec]) -> list[dict[str, Any]]:
    """sync_metrics as JSON-ready entries, conflicts included, to share across xdist workers."""
    entries: list[dict[str, Any]] = []
    existing = await live_metrics(api)
    for spec in specs:
        try:
            synced = await sync_metric(api, spec, existing)
        except MetricTypeConflict as exc:
            entries.append(
                {
                    "name": spec.name,
                    "field": "metric_value.type",
                    "problem": str(exc),
                    "hint": f"declare a new metric with a new name (e.g. '{spec.name} "
                    f"({exc.declared})') and point the tests at it; the {exc.stored} metric and "
                    "its results stay in the organization",
                }
            )
            continue
        except DeletedMetric as exc:
            entries.append(
                {
                    "name": spec.name,
                    "field": "name",
                    "problem": str(exc),
                    "hint": "give the metric a new name",
                }
            )
            continue
        entries.append(
            {
                "name": synced.name,
                "metric_id": synced.metric_id,
                "version": synced.version,
                "actions": list(synced.actions),
            }
        )
    return entries


def read_report(
    report: list[dict[str, Any]], registry: MetricRegistry
) -> tuple[dict[str, Registration], dict[str, SpecProblem]]:
    """sync_report's entries as registrations, and as problems located at the metric's line."""
    registrations: dict[str, Registration] = {}
    problems: dict[str, SpecProblem] = {}
    for entry in report:
        located = registry.metrics[entry["name"]]
        if entry.get("problem"):
            problems[entry["name"]] = SpecProblem(
                located.path,
                located.line,
                located.field(entry["field"]),
                entry["problem"],
                entry["hint"],
            )
        else:
            actions = entry["actions"]
            registrations[entry["name"]] = Registration(
                entry["metric_id"], entry["version"], "created" in actions, "new version" in actions
            )
    return registrations, problems
