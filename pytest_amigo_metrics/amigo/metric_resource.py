"""The metric endpoints, which amigo-sdk has no resource for, called through the SDK's HTTP
client (auth, token refresh, retries) with the SDK's generated request and response models."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial
from typing import Annotated, Any, TypeVar

from amigo_sdk.generated.model import (
    CreateMetricVersionParametersQuery,
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
from amigo_sdk.http_client import AmigoAsyncHttpClient
from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from ..suite.spec import TagStr

B = TypeVar("B", bound=BaseModel)
# The generated models type tag keys as RootModels, which pydantic cannot hash (amigo-sdk 2.5):
# any non-empty `tags` fails their validation. Tags are checked by the same documented rule
# (at most 20, keys and values `^[\w\s]+$`) here and set on the validated model.
_TAGS: TypeAdapter[dict[str, str | None]] = TypeAdapter(
    Annotated[dict[TagStr, TagStr | None], Field(max_length=20)]
)


def with_tags(model: type[B], data: dict[str, Any]) -> B:
    """`model` validated from `data`, its `tags` validated by the documented rule."""
    if "tags" not in data:
        return model.model_validate(data)
    tags = data["tags"]
    body = model.model_validate({**data, "tags": {} if tags is not None else None})
    if tags is not None:
        try:
            body.tags = _TAGS.validate_python(tags)  # type: ignore[attr-defined]
        except ValidationError as exc:  # located under `tags`, as the model's own errors are
            errors = exc.errors(include_url=False)
            located = [{**e, "loc": ("tags", *e["loc"])} for e in errors]
            raise ValidationError.from_exception_data(model.__name__, located) from None  # type: ignore[arg-type]
    return body


def _body(body: BaseModel, **options: Any) -> Any:
    return body.model_dump(mode="json", warnings=False, **options)


Q = TypeVar("Q", bound=BaseModel)
P = TypeVar("P", bound=BaseModel)


async def _pages(fetch: Callable[[Q], Awaitable[P]], params: Q) -> AsyncIterator[P]:
    """Pages from `fetch`, passing each page's `continuation_token` on while `has_more`."""
    while True:
        page = await fetch(params)
        yield page
        if not getattr(page, "has_more", False):
            return
        token = getattr(page, "continuation_token", None)
        params = params.model_copy(update={"continuation_token": token})


def _query(params: BaseModel) -> dict[str, object]:
    # Lists become repeated query keys (`tag=a:b&tag=c:`), as the API expects.
    return params.model_dump(mode="json", exclude_none=True, exclude_defaults=True)


class AsyncMetricResource:
    """Shaped like the SDK's own resources: one method per endpoint, typed by the SDK's models."""

    def __init__(self, http_client: AmigoAsyncHttpClient, organization_id: str) -> None:
        self._http = http_client
        self._base = f"/v1/{organization_id}/metric"

    async def create_metric(self, body: MetricCreateMetricRequest) -> MetricCreateMetricResponse:
        response = await self._http.request("POST", f"{self._base}/", json=_body(body))
        return MetricCreateMetricResponse.model_validate_json(response.text)

    async def get_metrics(self, params: GetMetricsParametersQuery) -> MetricGetMetricsResponse:
        response = await self._http.request("GET", f"{self._base}/", params=_query(params))
        return MetricGetMetricsResponse.model_validate_json(response.text)

    async def iter_metrics(
        self, params: GetMetricsParametersQuery
    ) -> AsyncIterator[MetricInstance]:
        """Every metric matching the filters, following `continuation_token` while `has_more`."""
        async for page in _pages(self.get_metrics, params):
            for metric in page.metrics:
                yield metric

    async def search_metrics(
        self, params: SearchMetricsParametersQuery
    ) -> MetricSearchMetricsResponse:
        response = await self._http.request("GET", f"{self._base}/search/", params=_query(params))
        return MetricSearchMetricsResponse.model_validate_json(response.text)

    async def update_metric(self, metric_id: str, body: MetricUpdateMetricRequest) -> None:
        # Only the fields set are sent: the API leaves the others as they are.
        await self._http.request(
            "POST", f"{self._base}/{metric_id}/", json=_body(body, exclude_unset=True)
        )

    async def delete_metric(self, metric_id: str) -> None:
        await self._http.request("DELETE", f"{self._base}/{metric_id}/")

    async def create_metric_version(
        self,
        metric_id: str,
        body: MetricCreateMetricVersionRequest,
        params: CreateMetricVersionParametersQuery | None = None,
    ) -> MetricCreateMetricVersionResponse:
        """With `params.version`, the API refuses (409) unless that is the next version."""
        response = await self._http.request(
            "POST",
            f"{self._base}/{metric_id}/version/",
            json=_body(body),
            params=_query(params) if params else None,
        )
        return MetricCreateMetricVersionResponse.model_validate_json(response.text)

    async def get_metric_versions(
        self, metric_id: str, params: GetMetricVersionsParametersQuery
    ) -> MetricGetMetricVersionsResponse:
        response = await self._http.request(
            "GET", f"{self._base}/{metric_id}/version", params=_query(params)
        )
        return MetricGetMetricVersionsResponse.model_validate_json(response.text)

    async def iter_metric_versions(
        self, metric_id: str, params: GetMetricVersionsParametersQuery
    ) -> AsyncIterator[MetricVersionInstance]:
        async for page in _pages(partial(self.get_metric_versions, metric_id), params):
            for version in page.metric_versions:
                yield version

    async def evaluate_metrics(
        self, body: MetricEvaluateMetricsRequest
    ) -> MetricEvaluateMetricsResponse:
        response = await self._http.request(
            "POST", f"{self._base}/evaluate", json=_body(body, exclude_none=True)
        )
        return MetricEvaluateMetricsResponse.model_validate_json(response.text)

    async def get_metric_evaluation_results(
        self, params: GetMetricEvaluationResultsParametersQuery
    ) -> MetricGetMetricEvaluationResultsResponse:
        response = await self._http.request(
            "GET", f"{self._base}/metric_evaluation_result", params=_query(params)
        )
        return MetricGetMetricEvaluationResultsResponse.model_validate_json(response.text)

    async def iter_metric_evaluation_results(
        self, params: GetMetricEvaluationResultsParametersQuery
    ) -> AsyncIterator[MetricEvaluationResultInstance]:
        """Every result matching the filters, following `continuation_token` while `has_more`."""
        async for page in _pages(self.get_metric_evaluation_results, params):
            for result in page.metric_evaluation_results:
                yield result
