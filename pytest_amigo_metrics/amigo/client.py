"""One authenticated connection to an Amigo organization, built on amigo-sdk: the SDK's HTTP
client (API-key sign-in, token refresh, retries honouring Retry-After), its conversation
resource, and the metric resource. Requests queue for the documented rate limits."""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextvars import ContextVar
from typing import Any, TypeVar

import httpx
import pydantic
import pytest
from amigo_sdk.errors import AmigoError
from amigo_sdk.http_client import AmigoAsyncHttpClient
from amigo_sdk.resources.conversation import AsyncConversationResource

from ..errors import AmigoRunError
from ..models.llm import RetryPolicy
from ..retry_after import retry_after_seconds
from ..settings import Settings
from .credentials import AmigoCredentials, CredentialsError
from .endpoints import ENDPOINTS, endpoint_for
from .errors import RETRIED_STATUSES, AmigoAPIError, detail_of
from .metric_resource import AsyncMetricResource
from .rate_limits import RateLimiter, Turn, note_wait, scope_of

T = TypeVar("T")
MAX_RETRY_DELAY = 60.0  # seconds; the documented limits are per minute
# The Retry-After of the last response the current task received: the SDK's errors drop the
# headers, and the stream retries below honour it.
_RETRY_AFTER: ContextVar[list[float | None] | None] = ContextVar("amigo_retry_after", default=None)
REPLAY_CREDENTIALS = AmigoCredentials("0" * 24, "replay", "replay", "0" * 24)


class AmigoAPI:
    def __init__(
        self,
        credentials: AmigoCredentials,
        *,
        retry: RetryPolicy,
        limiter: RateLimiter | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        rate_window: float = 60.0,
    ) -> None:
        self.credentials = credentials
        self.retry = retry
        scope = scope_of(credentials.base_url, credentials.organization_id, credentials.user_id)
        self.limiter = limiter or RateLimiter(scope, window=rate_window)
        # A request's turn, until its answer comes (a request that never gets one is dropped).
        self._turns: weakref.WeakKeyDictionary[httpx.Request, Turn] = weakref.WeakKeyDictionary()
        extra: dict[str, Any] = {"transport": transport} if transport is not None else {}
        self.http = AmigoAsyncHttpClient(
            credentials.sdk_config(),
            retry_max_attempts=retry.attempts,
            retry_backoff_base=retry.base_delay,
            retry_max_delay_seconds=MAX_RETRY_DELAY,
            retry_on_status=set(RETRIED_STATUSES),
            # 503 means the request was not served, so retrying a POST cannot apply it twice.
            retry_on_methods={"GET", "POST", "DELETE"},
            event_hooks={
                "request": [self._queue],
                "response": [_note_retry_after, self._answered],
            },
            **extra,
        )
        self.conversations = AsyncConversationResource(self.http, credentials.organization_id)
        self.metrics = AsyncMetricResource(self.http, credentials.organization_id)

    @property
    def organization_id(self) -> str:
        return self.credentials.organization_id

    async def _queue(self, request: httpx.Request) -> None:
        endpoint = endpoint_for(request.method, request.url.path)
        if endpoint is not None:
            turn = await self.limiter.wait_turn(endpoint)
            note_wait(turn.waited)
            self._turns[request] = turn

    async def _answered(self, response: httpx.Response) -> None:
        turn = self._turns.pop(response.request, None)
        if turn is not None:
            await self.limiter.answered(turn)

    @contextlib.contextmanager
    def errors(self, name: str, ids: dict[str, str], attempts: int | None = None) -> Iterator[None]:
        """Turn SDK and transport errors into AmigoAPIError naming the endpoint. `attempts`:
        how many were made, when the caller retries; else the SDK's retries are assumed."""
        endpoint = ENDPOINTS[name]
        label = endpoint.label(self.organization_id, **ids)
        try:
            yield
        except AmigoError as exc:
            status, detail = exc.status_code, detail_of(exc.response_body)
            if status is None:  # the SDK's sign-in failed: it keeps the cause, not the status
                endpoint = ENDPOINTS["sign-in-with-api-key"]
                label = endpoint.label(self.organization_id)
                status, detail = _sign_in_failure(exc)
            if attempts is None:
                attempts = self.retry.attempts if status in RETRIED_STATUSES else 1
            raise AmigoAPIError(endpoint, label, status, detail, attempts) from None
        except pydantic.ValidationError as exc:
            raise AmigoAPIError(
                endpoint, label, None, f"the API sent a malformed event or body: {exc}", 1
            ) from None
        except httpx.TimeoutException as exc:
            raise AmigoAPIError(
                endpoint, label, None, f"timed out ({type(exc).__name__})", attempts or 1
            ) from None
        except httpx.TransportError as exc:
            raise AmigoAPIError(
                endpoint, label, None, f"{type(exc).__name__}: {exc}", attempts or 1
            ) from None

    async def call(self, name: str, operation: Callable[[], Awaitable[T]], **ids: str) -> T:
        with self.errors(name, ids):
            return await operation()

    async def stream(
        self,
        name: str,
        open_stream: Callable[[], Awaitable[AsyncIterator[Any]]],
        on_event: Callable[[Any], None] | None = None,
        **ids: str,
    ) -> list[Any]:
        """Every event of an NDJSON stream, each handed to `on_event` as it arrives (so what the
        first events say survives a stream that breaks later). The SDK does not retry streams;
        429 and 503 answered before the first event are retried here, after the server's
        Retry-After when it sends one, else with the same backoff."""
        for attempt in range(1, self.retry.attempts + 1):
            events: list[Any] = []
            try:
                with self.retry_after() as retry_after, self.errors(name, ids, attempt):
                    iterator = await open_stream()
                    try:
                        async for event in iterator:
                            events.append(event)
                            if on_event is not None:
                                on_event(event)
                    finally:
                        await _close(iterator)
                    return events
            except AmigoAPIError as exc:
                if events or exc.status not in RETRIED_STATUSES or attempt == self.retry.attempts:
                    raise
            await self.wait_to_retry(attempt, retry_after[0])
        raise AssertionError("unreachable")

    @staticmethod
    @contextlib.contextmanager
    def retry_after() -> Iterator[list[float | None]]:
        """Holds the Retry-After (seconds) of the last response received inside the block."""
        holder: list[float | None] = [None]
        token = _RETRY_AFTER.set(holder)
        try:
            yield holder
        finally:
            _RETRY_AFTER.reset(token)

    async def wait_to_retry(self, attempt: int, retry_after: float | None) -> None:
        """The server's Retry-After when it sent one, else the backoff; at most 60 s."""
        delay = self.retry.base_delay * 2 ** (attempt - 1) if retry_after is None else retry_after
        delay = min(MAX_RETRY_DELAY, delay)
        note_wait(delay)
        await asyncio.sleep(delay)

    async def aclose(self) -> None:
        await self.http.aclose()


async def _close(iterator: AsyncIterator[Any]) -> None:
    """Close the SDK's stream generator now, which closes its HTTP response."""
    close = getattr(iterator, "aclose", None)
    if close is not None:
        await close()


async def _note_retry_after(response: httpx.Response) -> None:
    holder = _RETRY_AFTER.get()
    if holder is not None:
        holder[0] = retry_after_seconds(response.headers.get("Retry-After"))


def _sign_in_failure(exc: BaseException) -> tuple[int | None, str]:
    """The status and reason of a failed sign-in, from the exceptions the SDK chained."""
    cause: BaseException | None = exc
    reason = ""
    while cause is not None:
        if isinstance(cause, httpx.HTTPStatusError):
            return cause.response.status_code, ""
        reason = f"{type(cause).__name__}: {cause}"
        cause = cause.__cause__
    return None, reason


def connect(config: pytest.Config, settings: Settings) -> AmigoAPI:
    """The API as the session's settings, credentials and transport hook say."""
    replay = settings.record_mode == "replay"
    try:
        credentials = AmigoCredentials.resolve(config)
    except CredentialsError as exc:
        if not replay:
            raise AmigoRunError(str(exc)) from None
        credentials = REPLAY_CREDENTIALS  # a replay calls nobody: CI needs no secret
    transport = config.hook.pytest_amigo_api_transport(config=config)
    if settings.record_mode != "off":
        from ..models.recording_http import RecordingTransport

        transport = RecordingTransport(
            transport, settings.record_mode, config.rootpath, credentials.user_id
        )
    api = AmigoAPI(
        credentials,
        retry=settings.retry,
        transport=transport,
        rate_window=0.0 if replay else settings.rate_window,
    )
    if replay:
        from ..models.recording_http import replay_token

        api.http._token = replay_token()  # the SDK then never signs in
    return api
