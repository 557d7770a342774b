"""Amigo API failures as the plugin reports them: the endpoint, the status and its meaning."""

from __future__ import annotations

from typing import Any

from ..errors import AmigoRunError
from ..redact import redact
from .endpoints import Endpoint

RETRIED_STATUSES = frozenset({429, 503})


class AmigoAPIError(AmigoRunError):
    """An Amigo API call failed for good: the test item ends in error, never in failure."""

    def __init__(
        self,
        endpoint: Endpoint,
        label: str,
        status: int | None,
        detail: str = "",
        attempts: int = 1,
    ) -> None:
        self.endpoint = endpoint
        self.label = label
        self.status = status
        self.detail = detail
        self.attempts = attempts
        what = endpoint.meaning(status) if status is not None else "the request did not complete"
        head = f"Amigo API {label}: " + (f"HTTP {status}: {what}" if status else what)
        if detail and detail not in what:
            head += f" ({detail})"
        if attempts > 1:
            head += f"; gave up after {attempts} attempts"
        super().__init__(redact(head))


def detail_of(body: Any) -> str:
    """The server's own words: FastAPI's `detail` (a string or a list of field errors)."""
    if isinstance(body, dict):
        for key in ("detail", "message", "error"):
            value = body.get(key)
            if isinstance(value, list):
                return "; ".join(_field_error(v) for v in value)
            if value:
                return str(value)
        return ""
    return str(body or "")[:300]


def _field_error(error: Any) -> str:
    if isinstance(error, dict):
        where = ".".join(str(p) for p in error.get("loc", []))
        return f"{where}: {error.get('msg', '')}" if where else str(error.get("msg", ""))
    return str(error)
