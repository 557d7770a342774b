"""Record and replay Amigo API calls at the httpx transport, NDJSON streams included.

Requests are keyed by method, path (the organization as `{organization}`, so a replay needs no
credentials), query and body; never by headers, and no header is written: the Authorization
header, API keys and tokens stay out of the recordings. Calls made outside a test (the metric
sync of `--amigo-backend amigo`) go to `<rootdir>/__amigo_recordings__/amigo-session.json`.
"""

from __future__ import annotations

import hashlib
import json
import re
import warnings
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx

from ..errors import AmigoRunError
from ..redact import redact
from .recording import (
    CURRENT_RECORDING,
    CURRENT_RUN,
    DAMAGED_FIX,
    DIRECTORY,
    FIX,
    HttpCall,
    HttpRequest,
    HttpResponse,
    RecordMode,
    TestRecording,
)

SESSION_FILE = "amigo-session.json"
# Answers that mean "try again" (401: sign in again): the retry is the call that gets recorded.
AGAIN_STATUSES = frozenset({401, 408, 429, 500, 502, 503, 504})
REPLAY_TOKEN = "replayed-no-token"
_ORGANIZATION = re.compile(r"^(/v1/)[^/]+")
_BOUNDARY = re.compile(r"boundary=([^\s;]+)")


class RecordingTransport(httpx.AsyncBaseTransport):
    """Serves recorded answers, records live ones, as the record mode says."""

    def __init__(
        self,
        inner: httpx.AsyncBaseTransport | None,
        mode: RecordMode,
        rootpath: Path,
        user_id: str | None = None,
    ) -> None:
        self.inner = inner or httpx.AsyncHTTPTransport()
        self.user_id = user_id  # written as `{user}`: a replay signs in as nobody
        path = rootpath / DIRECTORY / SESSION_FILE
        # `new` makes the metric sync live: a replayed listing of the organization would not
        # match what live calls then find there.
        session_mode: RecordMode = "record" if mode == "new" else mode
        self.session = TestRecording.open(
            session_mode, path, "(calls made outside any test)", path=path
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        recording = CURRENT_RECORDING.get()
        run = CURRENT_RUN.get() if recording is not None else 0
        recording = recording or self.session
        recorded = recorded_request(request, await request.aread(), self.user_id)
        if recording.mode == "new" and recording.damaged:
            raise AmigoRunError(recording.damaged_message())
        slot, order = recording.take(run, _key(recorded))
        found = recording.loaded.get(slot) if recording.mode in ("replay", "new") else None
        if isinstance(found, HttpCall):
            recording.kept[slot] = (order, found)
            recording.replayed_http_runs.add(run)
            return _response(found.response, request)
        if recording.mode == "replay":
            raise _miss(recording, recorded, run)
        if run in recording.replayed_http_runs:
            raise _cannot_continue(recording, recorded, run)
        try:
            live = await self.inner.handle_async_request(request)
            await live.aread()  # the whole stream: the client then reads it from memory
        except BaseException:
            recording.release(slot)
            raise
        if live.status_code in AGAIN_STATUSES:
            recording.release(slot)
            return live
        call = HttpCall(
            run=run,
            occurrence=slot[2],
            key=slot[1],
            endpoint=_endpoint_name(request),
            request=recorded,
            response=recorded_response(live),
        )
        recording.kept[slot] = (order, call)
        return live

    async def aclose(self) -> None:
        try:
            self.session.write()
        except OSError as exc:
            note = f"Amigo API calls not recorded in {self.session.path}: {exc}"
            warnings.warn(note, stacklevel=1)
        await self.inner.aclose()


def replay_token() -> Any:
    """A sign-in answer for a replay: the SDK then never signs in (no credentials needed)."""
    from amigo_sdk.generated.model import UserSignInWithApiKeyResponse

    expires = datetime.now(timezone.utc) + timedelta(days=365)
    return UserSignInWithApiKeyResponse(id_token=REPLAY_TOKEN, expires_at=expires)


def recorded_request(
    request: httpx.Request, body: bytes, user_id: str | None = None
) -> HttpRequest:
    path = _ORGANIZATION.sub(r"\1{organization}", request.url.path)
    query = {
        k: ["{user}" if user_id and v == user_id else v for v in request.url.params.get_list(k)]
        for k in sorted(request.url.params.keys())
    }
    content_type = request.headers.get("content-type", "")
    json_body, text_body = _body(body, content_type)
    return HttpRequest(
        method=request.method, path=path, query=query, json_body=json_body, text_body=text_body
    )


def recorded_response(response: httpx.Response) -> HttpResponse:
    content_type = response.headers.get("content-type")
    text = response.text
    if content_type and "ndjson" in content_type:
        try:
            events = [_scrub(json.loads(line)) for line in text.splitlines() if line.strip()]
            return HttpResponse(
                status=response.status_code, content_type=content_type, events=events
            )
        except ValueError:
            pass
    json_body, text_body = _body(response.content, content_type or "")
    return HttpResponse(
        status=response.status_code,
        content_type=content_type,
        json_body=json_body,
        text_body=text_body,
    )


def _body(body: bytes, content_type: str) -> tuple[Any, str | None]:
    """A JSON body parsed, any other as text (a multipart boundary made fixed); redacted."""
    if not body:
        return None, None
    text = body.decode("utf-8", errors="replace")
    if "json" in content_type:
        try:
            return _scrub(json.loads(text)), None
        except ValueError:
            pass
    boundary = _BOUNDARY.search(content_type)
    if boundary:
        text = text.replace(boundary[1].strip('"'), "BOUNDARY")
    return None, redact(text)


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    if isinstance(value, dict):
        return {k: _scrub(v) for k, v in value.items()}
    return value


def _key(request: HttpRequest) -> str:
    canonical = json.dumps(request.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def _response(recorded: HttpResponse, request: httpx.Request) -> httpx.Response:
    headers = {"content-type": recorded.content_type} if recorded.content_type else {}
    if recorded.events is not None:
        content = "".join(json.dumps(e) + "\n" for e in recorded.events).encode()
    elif recorded.json_body is not None:
        content = json.dumps(recorded.json_body).encode()
    else:
        content = (recorded.text_body or "").encode()
    return httpx.Response(recorded.status, headers=headers, content=content, request=request)


def _endpoint_name(request: httpx.Request) -> str | None:
    from ..amigo.endpoints import endpoint_for

    endpoint = endpoint_for(request.method, request.url.path)
    return endpoint.name if endpoint is not None else None


def _miss(recording: TestRecording, request: HttpRequest, run: int) -> AmigoRunError:
    where = _where(recording, run)
    problem = recording.load_problem or f"recordings: {recording.path}"
    return AmigoRunError(
        f"no recording of this Amigo API call (--amigo-record-mode replay): {where}, "
        f"{request.method} {request.path}; {problem}\n"
        f"    fix: {DAMAGED_FIX if recording.damaged else FIX}"
    )


def _where(recording: TestRecording, run: int) -> str:
    if recording.path.name == SESSION_FILE:
        return "made outside any test (metric sync)"
    return f"test {recording.test!r} in {recording.suite}, run {run}"


def _cannot_continue(recording: TestRecording, request: HttpRequest, run: int) -> AmigoRunError:
    """A conversation replayed so far exists on the API only as it was recorded: it cannot
    go on live (an edited script, say). The test is to be recorded again as a whole."""
    return AmigoRunError(
        f"{request.method} {request.path} is not recorded, and run {run} of test "
        f"{recording.test!r} replayed its Amigo conversation up to here: a recorded "
        "conversation cannot be continued live (--amigo-record-mode new)\n    fix: record this "
        "test again as a whole: pytest --amigo-record-mode record "
        f"'{recording.nodeid or recording.suite + '::' + recording.test}'"
    )
