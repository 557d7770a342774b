"""What the fake Amigo API holds: services, conversations, metrics, versions and results."""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

History = list[dict[str, str]]  # [{"role": "user" | "agent" | "event", "content": ...}]
ROLES = {"user-message": "user", "agent-message": "agent", "external-event": "event"}
Reply = Callable[[History], str]
# (metric name, metric_value as a dict, messages up to the evaluated interaction) ->
# (value, justification, references)
Evaluator = Callable[[str, dict[str, Any], list["FakeMessage"]], tuple[Any, str, list[str]]]


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


_PROCESS = secrets.token_bytes(5)
_COUNTER = itertools.count(secrets.randbelow(1 << 23))


def object_id(at: datetime | None = None) -> str:
    """A 24-hex id laid out as the API's (MongoDB ObjectIds): seconds since the epoch, a
    per-process value, a counter. Ids sort by creation time, as the API's do."""
    seconds = int((at or utcnow()).timestamp())
    count = next(_COUNTER) % (1 << 24)
    return (seconds.to_bytes(4, "big") + _PROCESS + count.to_bytes(3, "big")).hex()


def default_reply(history: History) -> str:
    users = [m["content"] for m in history if m["role"] == "user"]
    if not users:
        return "Hello, thanks for reaching out. How can I help you today?"
    return f"I understand: {users[-1]} I'm sorry for the trouble; here is how we fix it."


@dataclass
class FakeService:
    id: str
    name: str
    version_sets: tuple[str, ...]
    reply: Reply
    complete_after: int | None  # interactions after which the service ends the conversation
    latency: float = 0.0  # seconds between the events of its streams


@dataclass
class FakeMessage:
    id: str
    interaction_id: str
    message_type: str  # user-message | agent-message | external-event
    sender: str
    message: str
    created_at: datetime


@dataclass
class FakeConversation:
    id: str
    service_id: str
    version_set: str
    user_id: str
    messages: list[FakeMessage] = field(default_factory=list)
    interactions: list[str] = field(default_factory=list)
    finished: bool = False
    created_at: datetime = field(default_factory=utcnow)
    tags: dict[str, str | None] = field(default_factory=dict)

    def history(self) -> History:
        return [{"role": ROLES[m.message_type], "content": m.message} for m in self.messages]


@dataclass(frozen=True)
class FakeUser:
    """A user of the organization, with the API key it signs in with."""

    id: str
    api_key_id: str
    api_key: str


@dataclass
class FakeMetricVersion:
    version: int
    description: str
    metric_value: dict[str, Any]
    created_at: datetime = field(default_factory=utcnow)


@dataclass
class FakeMetric:
    id: str
    name: str
    metric_value_type: str
    applied_to_services: list[str]
    additional_notes: str | None
    tags: dict[str, str | None]
    versions: list[FakeMetricVersion]
    creator: dict[str, str]
    updated_by: dict[str, str]
    is_deleted: bool = False
    used_in_simulation: bool = False
    created_at: datetime = field(default_factory=utcnow)
    updated_at: datetime = field(default_factory=utcnow)

    @property
    def latest(self) -> FakeMetricVersion:
        return self.versions[-1]


@dataclass
class FakeResult:
    id: str
    metric_id: str
    metric_version: int
    result: Any
    justification: str
    source: dict[str, Any]
    created_at: datetime = field(default_factory=utcnow)
    updated_at: datetime = field(default_factory=utcnow)


@dataclass
class FakeOrganization:
    id: str
    services: dict[str, FakeService] = field(default_factory=dict)
    conversations: dict[str, FakeConversation] = field(default_factory=dict)
    metrics: dict[str, FakeMetric] = field(default_factory=dict)
    results: list[FakeResult] = field(default_factory=list)

    def metric_named(self, name: str) -> FakeMetric | None:
        return next((m for m in self.metrics.values() if m.name == name), None)
