"""Record and replay model calls: one readable JSON file per test, beside its suite file.

A call is keyed by its request (model, messages, the parameters that change the answer), the
run it belongs to and how often the same request came before in that run, so `runs: 5`
replays five different conversations. The test and run of a call are carried in context
variables set where a test and a run start. Message ids are random per session; in requests
and answers they are written as `<id-1>`, `<id-2>`, ... (in order of first appearance in the
request), so a replayed judge cites this session's messages. Everything written is redacted,
and a request is keyed as it is written (its secrets masked): a replay hands out answers with
their secrets masked, and the requests that follow, which quote them, must find the keys the
recording made from the live answers.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
from collections import Counter
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from ..errors import ModelCallError, bounded_repr
from ..redact import redact

RecordMode = Literal["off", "record", "replay", "new"]
RECORD_MODES: tuple[RecordMode, ...] = ("off", "record", "replay", "new")
DIRECTORY = "__amigo_recordings__"
FORMAT: Literal[1] = 1
FIX = (
    "record the missing calls with --amigo-record-mode new (replays what exists, records the "
    "rest), or all of them again with --amigo-record-mode record"
)
# A file that is there but cannot be read: `new` would drop every call it holds.
DAMAGED_FIX = (
    "repair the file (a hand edit that broke its JSON or its fields), or record the test "
    "again with --amigo-record-mode record"
)

_ID = re.compile(r"\b[0-9a-f]{24}\b")
_PLACEHOLDER = re.compile(r"<id-(\d+)>")


class RecordedRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: str
    model: str
    api_base: str | None = None
    temperature: float | None = None
    seed: int | None = None
    response_format: str | None = None  # the schema's title and a digest of it
    messages: list[dict[str, str]]


class RecordedResponse(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str
    model: str


class ModelCall(BaseModel):
    model_config = ConfigDict(extra="forbid")

    run: int
    occurrence: int = 0  # earlier calls with the same request in the same run
    key: str
    request: RecordedRequest
    response: RecordedResponse


class HttpRequest(BaseModel):
    """An Amigo API request: the organization in the path as `{organization}`; no headers."""

    model_config = ConfigDict(extra="forbid")

    method: str
    path: str
    query: dict[str, list[str]] = {}
    json_body: Any = None
    text_body: str | None = None


class HttpResponse(BaseModel):
    """An answer: a JSON body, the events of an NDJSON stream, or text."""

    model_config = ConfigDict(extra="forbid")

    status: int
    content_type: str | None = None
    json_body: Any = None
    events: list[Any] | None = None
    text_body: str | None = None


class HttpCall(BaseModel):
    model_config = ConfigDict(extra="forbid")

    run: int
    occurrence: int = 0
    key: str
    endpoint: str | None = None  # the API operation, for readers
    request: HttpRequest
    response: HttpResponse


class RecordingFile(BaseModel):
    """What `__amigo_recordings__/<suite>/<test>.json` holds."""

    model_config = ConfigDict(extra="forbid")

    format: Literal[1] = FORMAT
    suite: str
    test: str
    model_calls: list[ModelCall] = []
    http_calls: list[HttpCall] = []


Slot = tuple[int, str, int]  # run, key, occurrence
Call = ModelCall | HttpCall


def recording_path(suite_path: Path, test_name: str) -> Path:
    """`<suite dir>/__amigo_recordings__/<suite file stem>/<test slug>.<digest>.json`: the
    digest keeps two names with the same slug apart."""
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", test_name).strip("-.").lower()[:60] or "test"
    digest = hashlib.sha256(test_name.encode()).hexdigest()[:8]
    return suite_path.parent / DIRECTORY / suite_path.stem / f"{slug}.{digest}.json"


@dataclass
class TestRecording:
    """The recordings of one test in one session: what was loaded, what this session used."""

    __test__ = False  # not a pytest test class

    mode: RecordMode
    path: Path
    suite: str
    test: str
    loaded: dict[Slot, Call] = field(default_factory=dict)
    kept: dict[Slot, tuple[int, Call]] = field(default_factory=dict)
    load_problem: str | None = None
    damaged: bool = False  # the file is there, but is not a recording file
    replayed_http_runs: set[int] = field(default_factory=set)
    nodeid: str = ""  # how pytest names the test, for the fixes errors suggest
    _seen: Counter[tuple[int, str]] = field(default_factory=Counter)
    _order: int = 0

    @classmethod
    def open(
        cls,
        mode: RecordMode,
        suite_path: Path,
        test_name: str,
        path: Path | None = None,
        nodeid: str = "",
    ) -> TestRecording:
        path = path or recording_path(suite_path, test_name)
        recording = cls(mode, path, suite_path.name, test_name, nodeid=nodeid)
        if mode in ("replay", "new"):
            recording._load()
        return recording

    def _load(self) -> None:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            self.load_problem = f"there is no recording file {self.path}"
            return
        except UnicodeDecodeError as exc:  # binary garbage, or another encoding
            reason = f"not UTF-8 text ({exc.reason})"
            self.load_problem = f"{self.path} is not a recording file: {reason}"
            self.damaged = True
            return
        except OSError as exc:  # a folder in its place, no permission to read it
            self.load_problem = f"the recording file {self.path} cannot be read ({exc.strerror})"
            self.damaged = True
            return
        try:
            data = RecordingFile.model_validate_json(text)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            self.load_problem = f"{self.path} is not a recording file: {where}: {first['msg']}"
            self.damaged = True
            return
        calls: list[Call] = [*data.model_calls, *data.http_calls]
        self.loaded = {(c.run, c.key, c.occurrence): c for c in calls}

    def take(self, run: int, key: str) -> tuple[Slot, int]:
        """The slot of a call with this key in this run (how often it came before counts),
        and the order it started in."""
        occurrence = self._seen[(run, key)]
        self._seen[(run, key)] += 1
        self._order += 1
        return (run, key, occurrence), self._order

    def release(self, slot: Slot) -> None:
        """A call that failed for a moment (429, 5xx) and will be made again: not counted."""
        run, key, _ = slot
        self._seen[(run, key)] -= 1

    def call(self, request: RecordedRequest, schema: dict[str, Any] | None, run: int) -> CallSlot:
        """Take the call's slot: its key, and how often the same request came before. The key
        is made from the request as written, secrets masked: recorded live, a conversation
        quotes an answer's secrets; replayed, it quotes them masked, as the answer was written."""
        normal, ids = _normalized(request)
        written = _redacted(normal)
        slot, order = self.take(run, _key(written, schema))
        if written.messages != normal.messages and slot not in self.loaded and self.loaded:
            slot = self._earlier_slot(slot, _key(normal, schema))
        return CallSlot(self, slot, written, ids, order)

    def _earlier_slot(self, slot: Slot, unmasked_key: str) -> Slot:
        """Earlier versions keyed a request with its secrets unmasked: their recordings still
        replay where such a request comes again (a secret in a suite file or said by a
        `python:` agent; not one quoted from a replayed answer, which never replayed)."""
        run, key, _ = slot
        earlier = (run, unmasked_key, self._seen[(run, unmasked_key)])
        if earlier not in self.loaded:
            return slot
        self._seen[(run, unmasked_key)] += 1
        self._seen[(run, key)] -= 1
        return earlier

    def write(self) -> None:
        """Write what this session recorded or replayed (record and new modes), atomically;
        an unchanged file is left alone."""
        if self.mode not in ("record", "new") or not self.kept:
            return
        calls = [call for _, call in sorted(self.kept.values(), key=lambda c: (c[1].run, c[0]))]
        data = RecordingFile(
            suite=self.suite,
            test=self.test,
            model_calls=[c for c in calls if isinstance(c, ModelCall)],
            http_calls=[c for c in calls if isinstance(c, HttpCall)],
        )
        dumped = data.model_dump(mode="json", exclude_none=True, exclude_defaults=True)
        text = json.dumps({"format": FORMAT, **dumped}, indent=2, ensure_ascii=False)
        text = redact(text) + "\n"
        if self.path.is_file() and self.path.read_bytes() == text.encode("utf-8"):
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(f".{self.path.name}.{secrets.token_hex(4)}.tmp")
        try:
            with open(temporary, "x", encoding="utf-8") as out:  # honours the umask
                out.write(text)
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    @property
    def replayed_calls(self) -> int:
        return sum(1 for slot in self.kept if slot in self.loaded)

    @property
    def recorded_calls(self) -> int:
        return len(self.kept) - self.replayed_calls

    def summary(self) -> str | None:
        """How the test's calls were served, for reports (None when there were none)."""
        replayed, recorded = self.replayed_calls, self.recorded_calls
        if not replayed and not recorded:
            return None
        if not recorded:
            return f"replayed ({_calls(replayed)})"
        if not replayed:
            return f"recorded ({_calls(recorded)})"
        return f"partly replayed ({replayed} replayed, {recorded} recorded)"

    def miss(self, slot: CallSlot) -> ModelCallError:
        run, key, occurrence = slot.slot
        request = slot.request
        what = (
            f"no recording of this {request.role} call (--amigo-record-mode replay): test "
            f"{bounded_repr(self.test)} in {self.suite}, run {run}, model {request.model!r}, "
            f"{len(request.messages)} messages, request {key[:12]}"
            + (f" (its call number {occurrence + 1} in this run)" if occurrence else "")
        )
        if self.load_problem is not None:
            fix = DAMAGED_FIX if self.damaged else FIX
            return ModelCallError(f"{what}: {self.load_problem}.\n    fix: {fix}")
        recorded = [c for c in self.loaded.values() if isinstance(c, ModelCall)]
        nearest = _nearest(request, key, run, recorded)
        return ModelCallError(f"{what}; recordings: {self.path}\n    {nearest}\n    fix: {FIX}")

    def damaged_message(self) -> str:
        """Why `new` mode makes no call for a test whose recording file cannot be read: it
        would make every call live and write over what the file holds."""
        return (
            f"{self.load_problem}; --amigo-record-mode new replays what a recording holds and "
            f"would write over this one with live calls\n    fix: {DAMAGED_FIX}"
        )


@dataclass
class CallSlot:
    """One model call of a recorded or replayed test."""

    recording: TestRecording
    slot: Slot
    request: RecordedRequest  # as written: ids as placeholders, secrets masked
    ids: list[str]  # the ids the placeholders stand for, in this session
    order: int

    def replay(self) -> RecordedResponse | None:
        """The recorded answer (ids restored), or None when the call is to be made live.
        A call missing in replay mode raises ModelCallError."""
        recording = self.recording
        if recording.mode == "record":
            return None
        if recording.mode == "new" and recording.damaged:
            raise ModelCallError(recording.damaged_message())
        found = recording.loaded.get(self.slot)
        if not isinstance(found, ModelCall):
            if recording.mode == "replay":
                raise recording.miss(self)
            return None
        recording.kept[self.slot] = (self.order, found)
        text = _PLACEHOLDER.sub(self._id_for, found.response.text)
        return RecordedResponse(text=text, model=found.response.model)

    def keep(self, text: str, model: str) -> None:
        """The live answer, to be written."""
        for number, value in enumerate(self.ids, 1):
            text = text.replace(value, f"<id-{number}>")
        run, key, occurrence = self.slot
        response = RecordedResponse(text=redact(text), model=model)
        call = ModelCall(
            run=run,
            occurrence=occurrence,
            key=key,
            request=self.request,
            response=response,
        )
        self.recording.kept[self.slot] = (self.order, call)

    def _id_for(self, match: re.Match[str]) -> str:
        number = int(match[1])
        return self.ids[number - 1] if 0 < number <= len(self.ids) else match[0]


# The recording of the test whose run the current task belongs to (None: record mode off),
# and the index of that run.
CURRENT_RECORDING: ContextVar[TestRecording | None] = ContextVar("amigo_recording", default=None)
CURRENT_RUN: ContextVar[int] = ContextVar("amigo_run_index", default=0)


def model_call(
    *,
    role: str,
    model: str,
    api_base: str | None,
    messages: list[dict[str, str]],
    temperature: float | None,
    seed: int | None,
    response_format: dict[str, Any] | None,
) -> CallSlot | None:
    """The current test's slot for this call, or None when nothing is recorded or replayed."""
    recording = CURRENT_RECORDING.get()
    if recording is None:
        return None
    request = RecordedRequest(
        role=role,
        model=model,
        api_base=redact(api_base) if api_base else None,
        temperature=temperature,
        seed=seed,
        response_format=_schema_label(response_format),
        messages=[dict(m) for m in messages],
    )
    return recording.call(request, response_format, CURRENT_RUN.get())


def _normalized(request: RecordedRequest) -> tuple[RecordedRequest, list[str]]:
    """The request with this session's ids as placeholders, numbered in order of first
    appearance, and the ids they stand for."""
    numbers: dict[str, int] = {}

    def place(match: re.Match[str]) -> str:
        return f"<id-{numbers.setdefault(match[0], len(numbers) + 1)}>"

    messages = [{k: _ID.sub(place, v) for k, v in m.items()} for m in request.messages]
    return request.model_copy(update={"messages": messages}), list(numbers)


def _redacted(request: RecordedRequest) -> RecordedRequest:
    """The request as written and keyed: no secrets."""
    messages = [{**m, "content": redact(m.get("content", ""))} for m in request.messages]
    return request.model_copy(update={"messages": messages})


def _key(request: RecordedRequest, schema: dict[str, Any] | None) -> str:
    """What changes the answer: not the role, nor where the model is served."""
    payload = {
        "model": request.model,
        "messages": request.messages,
        "temperature": request.temperature,
        "seed": request.seed,
        "response_format": schema,
    }
    canonical = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def _schema_label(schema: dict[str, Any] | None) -> str | None:
    if schema is None:
        return None
    canonical = json.dumps(schema, sort_keys=True)
    inner = schema.get("json_schema", {})
    title = inner.get("name") if isinstance(inner, dict) else None
    return f"{title or 'schema'} sha256:{hashlib.sha256(canonical.encode()).hexdigest()[:12]}"


def _nearest(request: RecordedRequest, key: str, run: int, calls: list[ModelCall]) -> str:
    """Where the closest recorded request (same role, preferably same run) differs."""
    same = sum(1 for c in calls if c.key == key and c.run == run)
    if same:
        times = "once" if same == 1 else f"{same} times"
        return (
            f"this {request.role} request is recorded {times} in run {run}: the call came more "
            "often than recorded"
        )
    same_role = [c for c in calls if c.request.role == request.role]
    candidates = [c for c in same_role if c.run == run] or same_role
    if not candidates:
        return f"no {request.role} call is recorded for this test"
    best = min(candidates, key=lambda c: len(_differences(c.request, request)))
    differences = _differences(best.request, request) or [
        "no difference shows in the recording file (it masks secrets as ***)"
    ]
    return f"nearest recorded {request.role} call (run {best.run}): " + "; ".join(differences[:3])


def _differences(recorded: RecordedRequest, now: RecordedRequest) -> list[str]:
    found = [
        f"{name}: recorded {bounded_repr(getattr(recorded, name))}, now "
        f"{bounded_repr(getattr(now, name))}"
        for name in ("model", "temperature", "seed", "response_format")
        if getattr(recorded, name) != getattr(now, name)
    ]
    if len(recorded.messages) != len(now.messages):
        found.append(f"{len(recorded.messages)} messages recorded, {len(now.messages)} now")
    for index, (old, new) in enumerate(zip(recorded.messages, now.messages, strict=False)):
        if old != new:
            found.append(
                f"messages[{index}] recorded {_around_change(old, new)}, now "
                f"{_around_change(new, old)}"
            )
    return found


def _around_change(message: dict[str, str], other: dict[str, str]) -> str:
    """The part of the message's content where it departs from `other`."""
    text, against = message.get("content", ""), other.get("content", "")
    start = next(
        (i for i, (a, b) in enumerate(zip(text, against, strict=False)) if a != b),
        min(len(text), len(against)),
    )
    begin, end = max(0, start - 20), start + 30
    window = text[begin:end]
    return ("..." if begin else "") + repr(window) + ("..." if end < len(text) else "")


def _calls(count: int) -> str:
    return f"{count} call" if count == 1 else f"{count} calls"
