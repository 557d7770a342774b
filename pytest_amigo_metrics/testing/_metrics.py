"""The fake's metric endpoints, per the OpenAPI schema and the metrics guide."""

from __future__ import annotations

import re
from typing import Any

import httpx
from amigo_sdk.generated.model import (
    CreateMetricVersionParametersQuery,
    FieldNotSet,
    GetMetricEvaluationResultsParametersQuery,
    GetMetricsParametersQuery,
    GetMetricVersionsParametersQuery,
    MetricCreateMetricRequest,
    MetricCreateMetricResponse,
    MetricCreateMetricVersionRequest,
    MetricCreateMetricVersionResponse,
    MetricEvaluateMetricsRequest,
    MetricEvaluateMetricsResponse,
    MetricEvaluationResultInstance,
    MetricGetMetricEvaluationResultsResponse,
    MetricGetMetricsResponse,
    MetricGetMetricVersionsResponse,
    MetricInstance,
    MetricSearchMetricsResponse,
    MetricUpdateMetricRequest,
    MetricVersionInstance,
    SearchMetricsParametersQuery,
)
from amigo_sdk.generated.model import Metric as SearchedMetric

from ..suite.metrics import value_problem
from ..suite.spec import (
    BooleanMetricValue,
    CategoricalMetricValue,
    MetricValue,
    NumericalMetricValue,
)
from ._http import (
    APIError,
    json_response,
    key_value,
    page_of,
    parse_body,
    parse_query,
    sort_by,
    tags_match,
)
from .state import (
    Evaluator,
    FakeMetric,
    FakeMetricVersion,
    FakeOrganization,
    FakeResult,
    object_id,
    utcnow,
)


def _tags(tags: dict[Any, Any]) -> dict[str, str | None]:
    return {_text(k): (None if v is None else _text(v)) for k, v in tags.items()}


def _text(value: Any) -> str:
    return str(getattr(value, "root", value))


def _metric(org: FakeOrganization, metric_id: str, *, modifiable: bool = True) -> FakeMetric:
    metric = org.metrics.get(metric_id)
    if metric is None or (modifiable and metric.is_deleted):
        raise APIError(404)
    return metric


def _instance(metric: FakeMetric) -> dict[str, Any]:
    return {
        "id": metric.id,
        "org_id": metric.creator["org_id"],
        "name": metric.name,
        "applied_to_services": metric.applied_to_services,
        "additional_notes": metric.additional_notes,
        "tags": [{"key": k, "value": v} for k, v in metric.tags.items()],
        "creator": metric.creator,
        "updated_by": metric.updated_by,
        "metric_value_type": metric.metric_value_type,
        "is_deleted": metric.is_deleted,
        "created_at": metric.created_at,
        "updated_at": metric.updated_at,
    }


def create(org: FakeOrganization, user: dict[str, str], request: httpx.Request) -> httpx.Response:
    body, _ = parse_body(MetricCreateMetricRequest, request)
    name = _text(body.name)
    if org.metric_named(name) is not None:
        raise APIError(409)
    initial = body.initial_version_metric_value
    value = initial.metric_value.model_dump(mode="json")
    metric = FakeMetric(
        id=object_id(),
        name=name,
        metric_value_type=value["type"],
        applied_to_services=[_text(s) for s in body.applied_to_services],
        additional_notes=None if body.additional_notes is None else _text(body.additional_notes),
        tags=_tags(body.tags),
        versions=[FakeMetricVersion(1, initial.description, value)],
        creator=dict(user),
        updated_by=dict(user),
    )
    org.metrics[metric.id] = metric
    return json_response(MetricCreateMetricResponse(id=metric.id), 201)


def _value_space(value: dict[str, Any]) -> MetricValue:
    """A stored value specifier, to check the evaluator's answers against. Built without the
    plugin's own rules (bounds in order, distinct categories): the API checks only what its
    schema states, and the generated models already checked that."""
    kinds: dict[str, type[BooleanMetricValue | NumericalMetricValue | CategoricalMetricValue]] = {
        "boolean": BooleanMetricValue,
        "numerical": NumericalMetricValue,
        "categorical": CategoricalMetricValue,
    }
    return kinds[value["type"]].model_construct(**value)


def _creators(values: list[str] | None) -> set[str]:
    """The `creator` filter: each value `org_id,user_id`; a 422 otherwise."""
    for value in values or []:
        org_id, sep, user_id = value.partition(",")
        if not sep or not org_id.strip() or not user_id.strip() or "," in user_id:
            raise APIError(
                422, [{"loc": ["query", "creator"], "msg": f"{value!r} is not org_id,user_id"}]
            )
    return set(values or [])


def _filtered(org: FakeOrganization, params: Any, *, deleted: bool | None) -> list[FakeMetric]:
    ids = {_text(i) for i in getattr(params, "id", None) or []}
    services = {_text(s) for s in params.applied_to_service or []}
    types = {t.value for t in params.type or []}
    creators = _creators(params.creator)
    tags = params.tag or []
    for tag in tags:
        key_value(tag, "tag")
    found = []
    for metric in org.metrics.values():
        if deleted is not None and metric.is_deleted != deleted:
            continue
        if ids and metric.id not in ids:
            continue
        if services and not services & set(metric.applied_to_services):
            continue
        if types and metric.metric_value_type not in types:
            continue
        creator = f"{metric.creator['org_id']},{metric.creator['user_id']}"
        if creators and creator not in creators:
            continue
        if not all(tags_match(metric.tags, t) for t in tags):
            continue
        found.append(metric)
    return found


def list_metrics(org: FakeOrganization, request: httpx.Request) -> httpx.Response:
    params = parse_query(GetMetricsParametersQuery, request)
    found = sort_by(
        _filtered(org, params, deleted=bool(params.is_deleted)),
        params.sort_by or [],
        ("updated_at",),
    )
    start = params.continuation_token or 0
    page, more, token = page_of(found, start, 50 if params.limit is None else params.limit)
    filter_values = None
    if start == 0:
        filter_values = {
            "applied_to_services_ids": sorted({s for m in found for s in m.applied_to_services}),
            "creators": [dict(t) for t in {tuple(m.creator.items()) for m in found}],
            "tags": sorted({k for m in found for k in m.tags}),
            "types": sorted({m.metric_value_type for m in found}),
        }
    return json_response(
        MetricGetMetricsResponse.model_validate(
            {
                "metrics": [MetricInstance.model_validate(_instance(m)) for m in page],
                "has_more": more,
                "continuation_token": token,
                "filter_values": filter_values,
            }
        )
    )


def search(org: FakeOrganization, request: httpx.Request) -> httpx.Response:
    params = parse_query(SearchMetricsParametersQuery, request)
    terms = [t for t in re.split(r"\W+", _text(params.query).lower()) if t]
    scored = []
    for metric in _filtered(org, params, deleted=False):
        text = f"{metric.name} {metric.latest.description}".lower()
        score = sum(1 for t in terms if t in text)
        if score:
            scored.append((score, metric))
    scored.sort(key=lambda pair: -pair[0])
    metrics = []
    for _, metric in scored[:50]:
        data = _instance(metric)
        data["_id"] = data.pop("id")
        metrics.append(SearchedMetric.model_validate(data))
    return json_response(MetricSearchMetricsResponse(metrics=metrics))


def update(
    org: FakeOrganization, user: dict[str, str], metric_id: str, request: httpx.Request
) -> httpx.Response:
    body, raw = parse_body(MetricUpdateMetricRequest, request)
    metric = _metric(org, metric_id)
    if body.applied_to_services is not None:
        metric.applied_to_services = [_text(s) for s in body.applied_to_services]
    notes = body.additional_notes
    if "additional_notes" in raw and not isinstance(notes, FieldNotSet):
        # Any object is the schema's `_NotSet` (it has no properties): not updated.
        metric.additional_notes = None if notes is None else _text(notes)
    if body.tags is not None:
        metric.tags = _tags(body.tags)
    metric.updated_by = dict(user)
    metric.updated_at = utcnow()
    return httpx.Response(200, json={})


def delete(org: FakeOrganization, metric_id: str) -> httpx.Response:
    metric = _metric(org, metric_id)
    if metric.used_in_simulation:
        raise APIError(400, "Metric is used in a simulation unit test.")
    metric.is_deleted = True
    metric.updated_at = utcnow()
    return httpx.Response(200, json={})


def create_version(
    org: FakeOrganization, user: dict[str, str], metric_id: str, request: httpx.Request
) -> httpx.Response:
    params = parse_query(CreateMetricVersionParametersQuery, request)
    body, _ = parse_body(MetricCreateMetricVersionRequest, request)
    metric = _metric(org, metric_id)
    value = body.metric_value.model_dump(mode="json")
    if value["type"] != metric.metric_value_type:
        raise APIError(400, "The metric value type cannot be changed between versions.")
    next_version = metric.latest.version + 1
    expected = _text(params.version) if params.version is not None else None
    if expected is not None and int(expected) != next_version:
        raise APIError(409)
    metric.versions.append(FakeMetricVersion(next_version, _text(body.description), value))
    metric.updated_by = dict(user)
    metric.updated_at = utcnow()
    return json_response(MetricCreateMetricVersionResponse(version=next_version), 201)


def _version_range(spec: str | None, latest: int) -> tuple[int, int]:
    def number(text: str) -> int:
        if text == "latest":
            return latest
        if not text.isdigit() or int(text) < 1:
            raise APIError(422, [{"loc": ["query", "version"], "msg": f"invalid version {spec!r}"}])
        return int(text)

    if not spec:
        return 1, latest
    low, sep, high = spec.partition("-")
    return (number(low), number(high)) if sep else (number(low), number(low))


def versions(org: FakeOrganization, metric_id: str, request: httpx.Request) -> httpx.Response:
    params = parse_query(GetMetricVersionsParametersQuery, request)
    metric = _metric(org, metric_id, modifiable=False)
    low, high = _version_range(params.version, metric.latest.version)
    found = [v for v in metric.versions if low <= v.version <= high]
    found = sort_by(found, params.sort_by or [], ("version",))
    page, more, token = page_of(found, params.continuation_token or 0, params.limit or 10)
    return json_response(
        MetricGetMetricVersionsResponse.model_validate(
            {
                "metric_versions": [
                    MetricVersionInstance.model_validate(
                        {
                            "metric_id": metric.id,
                            "version": v.version,
                            "description": v.description,
                            "metric_value": v.metric_value,
                            "creator": metric.creator,
                            "created_at": v.created_at,
                        }
                    )
                    for v in page
                ],
                "has_more": more,
                "continuation_token": token,
            }
        )
    )


def evaluate(
    org: FakeOrganization, user: dict[str, str], evaluator: Evaluator, request: httpx.Request
) -> httpx.Response:
    body, _ = parse_body(MetricEvaluateMetricsRequest, request)
    ids = [_text(i) for i in body.metric_ids]
    if len(set(ids)) != len(ids):
        raise APIError(422, [{"loc": ["body", "metric_ids"], "msg": "metric ids must be unique"}])
    metrics = [_metric(org, i) for i in ids]
    conversation = org.conversations.get(body.conversation_id)
    if conversation is None:
        raise APIError(404)
    if not conversation.interactions:
        raise APIError(400, "The conversation has no interactions.")
    upto = _text(body.evaluate_to_interaction_id) if body.evaluate_to_interaction_id else None
    if upto is not None and upto not in conversation.interactions:
        raise APIError(404)
    last = conversation.interactions.index(upto) if upto else len(conversation.interactions) - 1
    allowed = set(conversation.interactions[: last + 1])
    messages = [m for m in conversation.messages if m.interaction_id in allowed]
    evaluated = []
    for metric in metrics:
        version = metric.latest
        value, justification, references = evaluator(metric.name, version.metric_value, messages)
        problem = value_problem(_value_space(version.metric_value), value)
        if problem:
            raise AssertionError(f"the fake's evaluator gave {metric.name!r} {value!r}: {problem}")
        source = {
            "type": "manual",
            "conversation_id": conversation.id,
            "evaluate_to_interaction_id": upto,
            "invoked_by": dict(user),
            "references": references,
        }
        _store_manual(org, metric.id, version.version, value, justification, source)
        evaluated.append(
            {
                "metric_id": metric.id,
                "value": value,
                "references": references,
                "justification": justification,
            }
        )
    return json_response(MetricEvaluateMetricsResponse.model_validate({"metrics": evaluated}))


def _store_manual(
    org: FakeOrganization,
    metric_id: str,
    version: int,
    value: Any,
    justification: str,
    source: dict[str, Any],
) -> None:
    """A new manual evaluation of the same metric and conversation overwrites the previous."""
    for result in org.results:
        same = result.source.get("conversation_id") == source["conversation_id"]
        if result.metric_id == metric_id and result.source["type"] == "manual" and same:
            result.metric_version, result.result = version, value
            result.justification, result.source = justification, source
            result.updated_at = utcnow()
            return
    org.results.append(FakeResult(object_id(), metric_id, version, value, justification, source))


def _result_matches(
    result: FakeResult,
    params: GetMetricEvaluationResultsParametersQuery,
    pairs: list[tuple[str, int | None]],
) -> bool:
    ids = {_text(i) for i in vars(params)["metric_id"] or []}  # deprecated field: no warning
    if ids and result.metric_id not in ids:
        return False
    if pairs and not any(_pair_matches(result, p) for p in pairs):
        return False
    if params.source_type and result.source["type"] not in {s.value for s in params.source_type}:
        return False
    conversations = {_text(i) for i in params.conversation_id or []}
    if conversations and result.source.get("conversation_id") not in conversations:
        return False
    runs = {_text(i) for i in params.simulation_unit_test_set_run_id or []}
    if runs and result.source.get("simulation_unit_test_set_run_id") not in runs:
        return False
    if params.timestamp_after and result.updated_at < params.timestamp_after:
        return False
    return not (params.timestamp_before and result.updated_at > params.timestamp_before)


def _pair(pair: str) -> tuple[str, int | None]:
    """`<metric_id>-<version>` (the version may be empty); a 422 otherwise, results or not."""
    metric_id, sep, version = pair.partition("-")
    if not sep or not re.fullmatch(r"[a-f0-9]{24}", metric_id) or not re.fullmatch(r"\d*", version):
        raise APIError(422, [{"loc": ["query", "metric_id_and_version"], "msg": f"bad {pair!r}"}])
    return metric_id, int(version) if version else None


def _pair_matches(result: FakeResult, pair: tuple[str, int | None]) -> bool:
    metric_id, version = pair
    return result.metric_id == metric_id and version in (None, result.metric_version)


def results(org: FakeOrganization, request: httpx.Request) -> httpx.Response:
    params = parse_query(GetMetricEvaluationResultsParametersQuery, request)
    pairs = [_pair(p) for p in params.metric_id_and_version or []]
    found = [r for r in org.results if _result_matches(r, params, pairs)]
    found = sort_by(found, params.sort_by or [], ("created_at",))
    start = params.continuation_token or 0
    page, more, token = page_of(found, start, 500 if params.limit is None else params.limit)
    return json_response(
        MetricGetMetricEvaluationResultsResponse.model_validate(
            {
                "metric_evaluation_results": [
                    MetricEvaluationResultInstance.model_validate(
                        {
                            "id": r.id,
                            "org_id": org.id,
                            "created_at": r.created_at,
                            "updated_at": r.updated_at,
                            "metric_id": r.metric_id,
                            "metric_version": r.metric_version,
                            "result": r.result,
                            "justification": r.justification,
                            "source": r.source,
                        }
                    )
                    for r in page
                ],
                "has_more": more,
                "continuation_token": token,
                "filter_values": {"metric_ids": sorted({r.metric_id for r in found})}
                if start == 0
                else None,
            }
        )
    )
