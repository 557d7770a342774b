"""The Amigo API endpoints this plugin calls: paths, documented rate limits, and what each
error status means there (from the seeds). The client's errors and the fake both read it."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

GENERIC_MEANINGS = {
    400: "the request was refused",
    401: "invalid authorization credentials: check AMIGO_API_KEY_ID, AMIGO_API_KEY, "
    "AMIGO_USER_ID and AMIGO_ORGANIZATION_ID",
    403: "missing required permissions: the API key's user lacks the permission this "
    "endpoint needs",
    404: "not found",
    409: "conflict: a related operation is in progress",
    422: "the request failed validation",
    429: "rate limit exceeded",
    500: "the server failed",
    503: "the service is going through temporary maintenance",
}


@dataclass(frozen=True)
class Endpoint:
    name: str
    method: str
    path: str  # below /v1/{organization}
    per_minute: int | None  # the documented rate limit; None where none is documented
    meanings: dict[int, str] = field(default_factory=dict)

    def meaning(self, status: int) -> str:
        if status == 429 and self.per_minute:
            return f"rate limit exceeded ({self.per_minute} requests per minute for this endpoint)"
        return self.meanings.get(status) or GENERIC_MEANINGS.get(status, f"HTTP {status}")

    def label(self, organization: str = "{organization}", **ids: str) -> str:
        return f"{self.method} /v1/{organization}/{self.path.format(**ids) if ids else self.path}"


def _endpoints(*endpoints: Endpoint) -> dict[str, Endpoint]:
    return {e.name: e for e in endpoints}


ENDPOINTS = _endpoints(
    Endpoint("sign-in-with-api-key", "POST", "user/signin_with_api_key", None),
    Endpoint(
        "create-conversation",
        "POST",
        "conversation/",
        5,
        {
            400: "another unfinished conversation exists for this user (finish it first), "
            "or the voice settings do not fit the service",
            404: "the organization, service or version set is not found",
            409: "a related operation is in progress",
        },
    ),
    Endpoint(
        "interact-with-conversation",
        "POST",
        "conversation/{conversation_id}/interact",
        15,
        {
            400: "the user message is empty or the audio settings are invalid",
            404: "the organization or conversation is not found",
            409: "the conversation is already finished, or a related operation is in progress",
        },
    ),
    Endpoint(
        "finish-conversation",
        "POST",
        "conversation/{conversation_id}/finish/",
        5,
        {
            400: "the conversation has no interactions",
            404: "the organization or conversation is not found",
            409: "the conversation is already finished, or a related operation is in progress",
        },
    ),
    Endpoint(
        "get-conversations", "GET", "conversation/", 15, {404: "the organization is not found"}
    ),
    Endpoint(
        "get-conversation-messages",
        "GET",
        "conversation/{conversation_id}/messages/",
        20,
        {404: "the organization or conversation is not found"},
    ),
    Endpoint(
        "create-metric",
        "POST",
        "metric/",
        100,
        {
            404: "the organization is not found",
            409: "a metric with this name already exists",
        },
    ),
    Endpoint("get-metrics", "GET", "metric/", 20, {404: "the organization is not found"}),
    Endpoint("search-metrics", "GET", "metric/search/", 20, {404: "the organization is not found"}),
    Endpoint(
        "update-metric",
        "POST",
        "metric/{metric_id}/",
        20,
        {404: "the organization or metric is not found"},
    ),
    Endpoint(
        "delete-metric",
        "DELETE",
        "metric/{metric_id}/",
        100,
        {
            400: "the metric is used in a simulation unit test; remove it from them first",
            404: "the organization or metric is not found",
        },
    ),
    Endpoint(
        "create-metric-version",
        "POST",
        "metric/{metric_id}/version/",
        60,
        {
            400: "the metric value type cannot be changed between versions",
            404: "the organization or metric is not found",
            409: "the next version of the metric does not match the expected version "
            "(someone else created a version meanwhile)",
        },
    ),
    Endpoint(
        "get-metric-versions",
        "GET",
        "metric/{metric_id}/version",
        60,
        {404: "the organization or metric is not found"},
    ),
    Endpoint(
        "evaluate-metrics",
        "POST",
        "metric/evaluate",
        50,
        {
            400: "the conversation has no interactions",
            404: "the organization, conversation, interaction or metric is not found",
        },
    ),
    Endpoint(
        "get-metric-evaluation-results",
        "GET",
        "metric/metric_evaluation_result",
        10,
        {404: "the organization is not found"},
    ),
)


def _route(endpoint: Endpoint) -> re.Pattern[str]:
    """The endpoint's path as a pattern: the organization and each `{id}` a named group."""
    pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(endpoint.path))
    return re.compile(f"^/v1/(?P<organization>[^/]+)/{pattern}$")


# Fixed paths first, so `metric/search/` is not taken for `metric/{metric_id}/`.
_ROUTES = sorted(
    ((e.method, _route(e), e) for e in ENDPOINTS.values()), key=lambda r: r[2].path.count("{")
)


def match_endpoint(method: str, path: str) -> tuple[Endpoint, dict[str, str]] | None:
    """The endpoint a request is for, with the path's values (`organization`, `metric_id`...)."""
    for route_method, route, endpoint in _ROUTES:
        found = route.match(path) if route_method == method else None
        if found:
            return endpoint, found.groupdict()
    return None


def endpoint_for(method: str, path: str) -> Endpoint | None:
    matched = match_endpoint(method, path)
    return matched[0] if matched else None
