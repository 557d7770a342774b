"""Request parsing and responses of the fake, shaped as the API (FastAPI) answers."""

from __future__ import annotations

import json
import math
import typing
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

import httpx
from pydantic import BaseModel, ValidationError

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
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc, "query") from None


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
        return with_tags(model, raw), raw
    except ValidationError as exc:
        raise validation_error(exc, "body") from None


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
    """A page from offset `start`: its items, `has_more`, and the next `continuation_token`."""
    page = items[start : start + limit]
    more = start + limit < len(items)
    return page, more, start + limit if more else None
