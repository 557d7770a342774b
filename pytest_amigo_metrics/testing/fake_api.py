"""An in-process fake of the Amigo API endpoints the plugin uses, behind an httpx transport.

It validates every request against the documented schemas (the SDK's generated models),
answers with bodies that validate against them, enforces the documented rate limits, and
plays scripted faults. The official SDK's clients work against it unchanged.

Where the documents in the seeds disagree, the fake follows the OpenAPI schema
(`metric-openapi.json`): evaluate-metrics allows 50 requests per minute (the compute-metrics
page says 20); `limit=0` is allowed on get-metrics and get-metric-evaluation-results (the
schema's minimum is 0), and answers an empty last page; blank strings are refused where the
schema's type is a stripped non-empty string, although the generated models only check the
length, and other such strings are taken stripped (` Outcome ` is the name `Outcome`). One
exception: search-metrics matches the query in a metric's name and description, as the metrics
guide and the endpoint reference say (the schema says its name only). Where the schema says
nothing (an unknown `evaluate_to_interaction_id`), the fake answers as the compute-metrics page
does (404). Conversations follow the conversation endpoints' reference and the SDK's generated
models: tags of their own rule, external events in the past stored before the user's message,
a voice response needing `response_audio_format`."""

from __future__ import annotations

import base64
import contextlib
import functools
import json
import re
import secrets
import threading
import time
import types
from collections import defaultdict, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from ..amigo.credentials import DEFAULT_BASE_URL, AmigoCredentials
from ..amigo.endpoints import ENDPOINTS, Endpoint, match_endpoint
from . import _conversations, _metrics
from ._http import APIError, StreamFault, rate_limited
from .state import (
    Evaluator,
    FakeMessage,
    FakeOrganization,
    FakeService,
    FakeUser,
    Reply,
    default_reply,
    object_id,
    utcnow,
)

STREAMED = ("create-conversation", "interact-with-conversation")

if TYPE_CHECKING:
    from .pytest_plugin import FakeAmigoPlugin


def default_evaluator(
    name: str, metric_value: dict[str, Any], messages: list[FakeMessage]
) -> tuple[Any, str, list[str]]:
    """Deterministic: true, the upper bound, or the first category, citing the last agent
    message."""
    agent = [m for m in messages if m.message_type == "agent-message"] or messages
    value: Any = {
        "boolean": True,
        "numerical": metric_value.get("upper_bound"),
        "categorical": (metric_value.get("categories") or [None])[0],
    }[metric_value["type"]]
    return value, f"Fake evaluation of {name!r}.", [agent[-1].id]


@dataclass
class RecordedRequest:
    """A request the fake served (without its credentials)."""

    endpoint: str
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    status: int


class FakeAmigoAPI:
    def __init__(
        self,
        *,
        organization_id: str | None = None,
        user_id: str | None = None,
        api_key_id: str | None = None,
        api_key: str | None = None,
        base_url: str = DEFAULT_BASE_URL,
        rate_window: float = 60.0,
        enforce_rate_limits: bool = True,
        token_lifetime: timedelta = timedelta(hours=1),
        evaluator: Evaluator = default_evaluator,
    ) -> None:
        self.org = FakeOrganization(organization_id or object_id())
        self.users: dict[str, FakeUser] = {}
        first = self.add_user(user_id, api_key_id=api_key_id, api_key=api_key)
        self.user_id, self.api_key_id, self.api_key = first.id, first.api_key_id, first.api_key
        self.base_url = base_url.rstrip("/")
        self.rate_window = rate_window
        self.enforce_rate_limits = enforce_rate_limits
        self.token_lifetime = token_lifetime
        self.evaluator = evaluator
        self.requests: list[RecordedRequest] = []
        self._tokens: dict[str, Any] = {}
        self._token_users: dict[str, str] = {}
        self._faults: dict[str, deque[tuple[int, dict[str, str]]]] = defaultdict(deque)
        self._stream_faults: dict[str, deque[StreamFault]] = defaultdict(deque)
        self._calls: dict[str, list[float]] = defaultdict(list)
        self._lock = threading.Lock()
        self.transport = httpx.MockTransport(self.handle)

    # -- setup ------------------------------------------------------------------------------

    @property
    def organization_id(self) -> str:
        return self.org.id

    def add_user(
        self,
        user_id: str | None = None,
        *,
        api_key_id: str | None = None,
        api_key: str | None = None,
    ) -> FakeUser:
        """Another user of the organization, with an API key of its own; pass its id to
        `credentials`, `environ` or `sdk_kwargs` to act as that user."""
        user = FakeUser(
            user_id or object_id(),
            api_key_id or object_id(),
            api_key or "amigo-fake-" + secrets.token_hex(16),
        )
        self.users[user.id] = user
        return user

    def _user(self, user_id: str | None) -> FakeUser:
        return self.users[user_id or self.user_id]

    def sdk_kwargs(self, user_id: str | None = None) -> dict[str, Any]:
        """Keyword arguments for the SDK's AmigoClient / AsyncAmigoClient to reach this fake."""
        user = self._user(user_id)
        return {
            "api_key": user.api_key,
            "api_key_id": user.api_key_id,
            "user_id": user.id,
            "organization_id": self.org.id,
            "base_url": self.base_url,
            "transport": self.transport,
        }

    def credentials(self, user_id: str | None = None) -> AmigoCredentials:
        user = self._user(user_id)
        return AmigoCredentials(self.org.id, user.api_key_id, user.api_key, user.id, self.base_url)

    def environ(self, user_id: str | None = None) -> dict[str, str]:
        """The AMIGO_* environment variables that point the plugin (and the SDK) at this fake."""
        user = self._user(user_id)
        return {
            "AMIGO_ORGANIZATION_ID": self.org.id,
            "AMIGO_API_KEY_ID": user.api_key_id,
            "AMIGO_API_KEY": user.api_key,
            "AMIGO_USER_ID": user.id,
            "AMIGO_BASE_URL": self.base_url,
        }

    def add_service(
        self,
        service_id: str | None = None,
        *,
        name: str = "Fake service",
        version_sets: tuple[str, ...] = ("release",),
        reply: Reply = default_reply,
        complete_after: int | None = None,
        latency: float = 0.0,
    ) -> FakeService:
        """A service to converse with: `reply` turns the history into the agent's answer;
        with `complete_after`, the service ends the conversation after that many interactions;
        `latency`: seconds between the events of its streams (a slow agent)."""
        service = FakeService(
            service_id or object_id(), name, version_sets, reply, complete_after, latency
        )
        self.org.services[service.id] = service
        return service

    def fail(self, endpoint: str, *statuses: int, retry_after: float | None = None) -> None:
        """Answer the next requests to `endpoint` (an operation id such as
        "create-conversation") with these statuses, in order, before serving it again."""
        if endpoint not in ENDPOINTS:
            raise ValueError(f"unknown endpoint {endpoint!r}; one of {sorted(ENDPOINTS)}")
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        for status in statuses:
            self._faults[endpoint].append((status, headers))

    def cut_stream(self, endpoint: str, after: int) -> None:
        """The next stream of `endpoint` ("create-conversation" or "interact-with-conversation")
        loses its connection after `after` events; the server still finishes its work."""
        self._stream_fault(endpoint, StreamFault(after))

    def stream_error(self, endpoint: str, status: int, message: str, after: int = 0) -> None:
        """The next stream of `endpoint` sends an error event after `after` events, and stops
        there (with `after=0` on create-conversation, no conversation is created)."""
        self._stream_fault(endpoint, StreamFault(after, (status, message)))

    def _stream_fault(self, endpoint: str, fault: StreamFault) -> None:
        if endpoint not in STREAMED:
            raise ValueError(f"{endpoint!r} is not streamed; one of {list(STREAMED)}")
        self._stream_faults[endpoint].append(fault)

    def expire_tokens(self) -> None:
        """Every issued token becomes invalid, as after expiry: clients must sign in again."""
        self._tokens.clear()
        self._token_users.clear()

    def calls(self, endpoint: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.endpoint == endpoint]

    # -- serving ----------------------------------------------------------------------------

    def handle(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            matched = match_endpoint(request.method, request.url.path)
            endpoint = matched[0] if matched else None
            try:
                response = self._serve(matched, request)
            except APIError as exc:
                response = exc.response(endpoint)
            self._record(endpoint, request, response.status_code)
            return response

    def _serve(
        self, matched: tuple[Endpoint, dict[str, str]] | None, request: httpx.Request
    ) -> httpx.Response:
        if not str(request.url).startswith(self.base_url + "/") or matched is None:
            raise APIError(404, f"no such endpoint: {request.method} {request.url.path}")
        endpoint, ids = matched
        organization = ids.pop("organization")
        if self._faults[endpoint.name]:
            status, headers = self._faults[endpoint.name].popleft()
            raise APIError(status, None, headers)
        if endpoint.name == "sign-in-with-api-key":
            return self._sign_in(organization, request)
        user_id = self._authenticate(request)
        if organization != self.org.id:
            raise APIError(404, "Specified organization is not found.")
        self._count(endpoint, user_id)
        return self._route(endpoint.name, request, ids, user_id)

    def _sign_in(self, organization: str, request: httpx.Request) -> httpx.Response:
        user = self.users.get(request.headers.get("x-user-id", ""))
        given = (request.headers.get("x-api-key"), request.headers.get("x-api-key-id"))
        if organization != self.org.id or user is None or given != (user.api_key, user.api_key_id):
            raise APIError(401, "Invalid API key.")
        token = _jwt(user.id)
        expires_at = utcnow() + self.token_lifetime
        self._tokens[token] = expires_at
        self._token_users[token] = user.id
        return httpx.Response(200, json={"id_token": token, "expires_at": expires_at.isoformat()})

    def _authenticate(self, request: httpx.Request) -> str:
        """The id of the user the request's token was issued to."""
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        expires_at = self._tokens.get(token)
        if scheme.lower() != "bearer" or expires_at is None or expires_at <= utcnow():
            raise APIError(401, "Invalid authorization credentials.")
        return self._token_users[token]

    def _count(self, endpoint: Endpoint, user_id: str) -> None:
        """The documented limits are per user."""
        if not self.enforce_rate_limits or not endpoint.per_minute:
            return
        key = f"{user_id}/{endpoint.name}"
        now = time.monotonic()
        calls = [t for t in self._calls[key] if now - t < self.rate_window]
        if len(calls) >= endpoint.per_minute:
            self._calls[key] = calls
            raise rate_limited(min(calls) + self.rate_window - now)
        calls.append(now)
        self._calls[key] = calls

    def _stream(self, name: str) -> _conversations.Stream:
        return _conversations.Stream(self._lock, self._stream_faults[name])

    def _route(
        self, name: str, request: httpx.Request, ids: dict[str, str], user_id: str
    ) -> httpx.Response:
        for value in ids.values():
            if not re.fullmatch(r"[a-f0-9]{24}", value):
                raise APIError(422, [{"loc": ["path"], "msg": f"{value!r} is not a 24-hex id"}])
        org, user = self.org, {"org_id": self.org.id, "user_id": user_id}
        conversation_id, metric_id = ids.get("conversation_id", ""), ids.get("metric_id", "")
        routes: dict[str, Callable[[], httpx.Response]] = {
            "create-conversation": lambda: _conversations.create_conversation(
                org, user_id, request, self._stream(name)
            ),
            "interact-with-conversation": lambda: _conversations.interact(
                org, conversation_id, request, self._stream(name)
            ),
            "finish-conversation": lambda: _conversations.finish(org, conversation_id),
            "get-conversations": lambda: _conversations.conversations(org, request),
            "get-conversation-messages": lambda: _conversations.messages(
                org, conversation_id, request
            ),
            "create-metric": lambda: _metrics.create(org, user, request),
            "get-metrics": lambda: _metrics.list_metrics(org, request),
            "search-metrics": lambda: _metrics.search(org, request),
            "update-metric": lambda: _metrics.update(org, user, metric_id, request),
            "delete-metric": lambda: _metrics.delete(org, metric_id),
            "create-metric-version": lambda: _metrics.create_version(org, user, metric_id, request),
            "get-metric-versions": lambda: _metrics.versions(org, metric_id, request),
            "evaluate-metrics": lambda: _metrics.evaluate(org, user, self.evaluator, request),
            "get-metric-evaluation-results": lambda: _metrics.results(org, request),
        }
        return routes[name]()

    def _record(self, endpoint: Endpoint | None, request: httpx.Request, status: int) -> None:
        content_type = request.headers.get("content-type", "")
        body: Any = None
        if content_type.startswith("application/json") and request.content:
            body = json.loads(request.content)
        query = {k: request.url.params.get_list(k) for k in request.url.params}
        self.requests.append(
            RecordedRequest(
                endpoint.name if endpoint else "?",
                request.method,
                request.url.path,
                query,
                body,
                status,
            )
        )

    # -- wiring the SDK to it ---------------------------------------------------------------

    @contextlib.contextmanager
    def serve_sdk(self) -> Iterator[FakeAmigoAPI]:
        """Route the SDK's API-key sign-in to this fake too. The SDK signs in with an httpx
        client of its own, outside the transport it is given; this points that client here."""
        from amigo_sdk import auth

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(auth, "httpx", _httpx_with_transport(self.transport))
            yield self

    def plugin(self) -> FakeAmigoPlugin:
        """A pytest plugin pointing pytest-amigo-metrics (credentials, transport) at this fake."""
        from .pytest_plugin import FakeAmigoPlugin

        return FakeAmigoPlugin(self)


def _httpx_with_transport(transport: httpx.MockTransport) -> types.ModuleType:
    module = types.ModuleType("httpx")
    module.__dict__.update(httpx.__dict__)
    module.Client = functools.partial(httpx.Client, transport=transport)  # type: ignore[attr-defined]
    module.AsyncClient = functools.partial(httpx.AsyncClient, transport=transport)  # type: ignore[attr-defined]
    return module


def _jwt(subject: str) -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return ".".join(
        [part({"alg": "none", "typ": "JWT"}), part({"sub": subject, "n": object_id()}), "fake"]
    )
