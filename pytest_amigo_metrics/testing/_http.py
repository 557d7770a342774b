"""Request parsing and responses of the fake, shaped as the API (FastAPI) answers."""

from __future__ import annotations

import asyncio
import json
import math
import threading
import time
import typing
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

import httpx
from pydantic import BaseModel, RootModel, ValidationError

from ..amigo.endpoints import Endpoint
from ..amigo.metric_resource import with_tags

M = typing.TypeVar("M", bound=BaseModel)


class APIError(Exception):
    """Raised by a handler: becomes the documented error response."""

    def __init__(self, status: int, detail: Any = None, headers: dict[str, str] | None = None):
        super().__init__(status, detail)
        self.status = status
        self.detail = detail
        self.headers = headers or {}

    def response(self, endpoint: Endpoint | None) -> httpx.Response:
        detail = self.detail
        if detail is None:
            detail = endpoint.meaning(self.status) if endpoint else f"HTTP {self.status}"
        return httpx.Response(self.status, json={"detail": detail}, headers=self.headers)


def rate_limited(retry_after: float) -> APIError:
    return APIError(429, None, {"Retry-After": str(max(1, math.ceil(retry_after)))})


def validation_error(exc: ValidationError, where: str) -> APIError:
    detail = [
        {"loc": [where, *e["loc"]], "msg": e["msg"], "type": e["type"]}
        for e in exc.errors(include_url=False, include_context=False, include_input=False)
    ]
    return APIError(422, detail)


def _is_list(annotation: Any) -> bool:
    if typing.get_origin(annotation) is list:
        return True
    return any(typing.get_origin(a) is list for a in typing.get_args(annotation))


def parse_query(model: type[M], request: httpx.Request) -> M:
    """Query parameters into the SDK's generated `...ParametersQuery` model, or a 422."""
    params = request.url.params
    data: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        key = info.alias or name
        if key not in params:
            continue
        data[name] = params.get_list(key) if _is_list(info.annotation) else params[key]
    try:
        parsed = model.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc, "query") from None
    refuse_blank(parsed, "query")
    return parsed


def parse_body(model: type[M], request: httpx.Request) -> tuple[M, dict[str, Any]]:
    """A JSON body into the generated request model, or a 422; also the raw object, for
    `only updated if set` semantics."""
    try:
        raw = json.loads(request.content or b"null")
    except json.JSONDecodeError as exc:
        raise APIError(422, [{"loc": ["body"], "msg": f"invalid JSON: {exc.msg}"}]) from None
    if not isinstance(raw, dict):
        raise APIError(422, [{"loc": ["body"], "msg": "an object is required"}])
    try:
        parsed = with_tags(model, raw)
    except ValidationError as exc:
        raise validation_error(exc, "body") from None
    refuse_blank(parsed, "body")
    return parsed, raw


def refuse_blank(value: Any, *where: str | int) -> None:
    """A 422 for blank text where the schema wants a stripped non-empty string: the API strips
    before it checks the length, which the generated models (a bare `min_length`) do not. Such
    text is stripped in place, as the API takes it (` Empathy Score ` is `Empathy Score`)."""
    if isinstance(value, RootModel):
        if "StrippedNonempty" in type(value).__name__ and isinstance(value.root, str):
            if not value.root.strip():
                raise APIError(422, [{"loc": list(where), "msg": "must not be blank"}])
            value.root = value.root.strip()
        refuse_blank(value.root, *where)
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            refuse_blank(vars(value).get(name), *where, name)  # no deprecation warnings
    elif isinstance(value, list):
        for index, item in enumerate(value):
            refuse_blank(item, *where, index)
    elif isinstance(value, dict):
        for key, item in value.items():
            refuse_blank(key, *where, str(key))
            refuse_blank(item, *where, str(key))


def parse_form(request: httpx.Request) -> dict[str, list[bytes]]:
    """multipart/form-data fields (file parts included) by name."""
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data; boundary="):
        raise APIError(
            422,
            [{"loc": ["header", "content-type"], "msg": "must be multipart/form-data; boundary=…"}],
        )
    message = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + request.content
    )
    fields: dict[str, list[bytes]] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if isinstance(name, str) and isinstance(payload, bytes):
            fields.setdefault(name, []).append(payload)
    return fields


def json_response(model: BaseModel | None, status: int = 200) -> httpx.Response:
    if model is None:
        return httpx.Response(status)
    return httpx.Response(
        status,
        content=model.model_dump_json(by_alias=True).encode(),
        headers={"content-type": "application/json"},
    )


def ndjson_response(events: list[BaseModel]) -> httpx.Response:
    body = b"".join(e.model_dump_json(by_alias=True).encode() + b"\n" for e in events)
    return httpx.Response(200, content=body, headers={"content-type": "application/x-ndjson"})


def sort_by(items: list[Any], keys: list[str], allowed: tuple[str, ...]) -> list[Any]:
    """`sort_by` as the API reads it: `+field` / `-field`, later keys breaking ties."""
    ordered = list(items)
    for key in reversed(keys):
        field, descending = key.lstrip("+-"), key.startswith("-")
        if field not in allowed:
            raise APIError(422, [{"loc": ["query", "sort_by"], "msg": f"cannot sort by {field}"}])
        ordered.sort(key=lambda item: getattr(item, field), reverse=descending)
    return ordered


def page_of(items: list[Any], start: int, limit: int) -> tuple[list[Any], bool, int | None]:
    """A page from offset `start`: its items, `has_more`, and the next `continuation_token`.
    A negative token is refused; `limit=0` (which the schema allows on some endpoints) is an
    empty last page, never a token that points at the same offset forever."""
    if start < 0:
        raise APIError(422, [{"loc": ["query", "continuation_token"], "msg": "must be 0 or more"}])
    if limit == 0:
        return [], False, None
    page = items[start : start + limit]
    more = start + limit < len(items)
    return page, more, start + limit if more else None


def key_value(wanted: str, where: str) -> tuple[str, str]:
    """A `key:value` filter, as the API requires it; a 422 otherwise."""
    key, sep, value = wanted.partition(":")
    if not sep or not key.strip():
        raise APIError(
            422, [{"loc": ["query", where], "msg": f"{wanted!r} is not of the form key:value"}]
        )
    return key, value


def tags_match(tags: dict[str, str | None], wanted: str) -> bool:
    """The `tag` filter: `key:value`, `key:*` (any value) or `key:` (the value None)."""
    key, value = key_value(wanted, "tag")
    if key not in tags:
        return False
    return value == "*" or tags[key] == (value or None)


@dataclass
class StreamFault:
    """What goes wrong in one stream: after `after` events, an `error` event (status, message)
    is sent and the stream ends, or (without `error`) the connection is cut."""

    after: int
    error: tuple[int, str] | None = None


class EventStream(httpx.SyncByteStream, httpx.AsyncByteStream):
    """An NDJSON body produced one event at a time as the client reads it, as the API streams:
    each event is computed (the service's reply included) only when it is reached, under the
    fake's lock. The server finishes its work even if the client stops reading or the
    connection is cut; an injected error event stops it where it is."""

    def __init__(
        self,
        model: type[BaseModel],
        events: Iterator[dict[str, object]],
        lock: threading.Lock,
        fault: StreamFault | None = None,
        latency: float = 0.0,
    ) -> None:
        self.model = model
        self.events = events
        self.lock = lock
        self.fault = fault
        self.latency = latency  # seconds before each event after the first
        self.sent = 0

    def _next(self) -> bytes | None:
        with self.lock:
            if self.fault is not None and self.sent == self.fault.after:
                return self._fail(self.fault)
            event = next(self.events, None)
        if event is None:
            return None
        self.sent += 1
        return self.model.model_validate(event).model_dump_json(by_alias=True).encode() + b"\n"

    def _fail(self, fault: StreamFault) -> bytes | None:
        self.fault = None
        if fault.error is None:
            for _ in self.events:  # the server carries on; only the connection is lost
                pass
            raise httpx.RemoteProtocolError(
                "peer closed connection without sending complete message body"
            )
        self.events = iter([])
        status, message = fault.error
        error = {"type": "error", "http_error_code": status, "error_description": message}
        return self.model.model_validate(error).model_dump_json(by_alias=True).encode() + b"\n"

    def __iter__(self) -> Iterator[bytes]:
        while True:
            if self.sent and self.latency:
                time.sleep(self.latency)
            if (chunk := self._next()) is None:
                return
            yield chunk

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while True:
            if self.sent and self.latency:
                await asyncio.sleep(self.latency)
            if (chunk := self._next()) is None:
                return
            yield chunk

    def close(self) -> None:
        with self.lock:
            for _ in self.events:
                pass

    async def aclose(self) -> None:
        self.close()


def event_response(stream: EventStream) -> httpx.Response:
    return httpx.Response(200, stream=stream, headers={"content-type": "application/x-ndjson"})
