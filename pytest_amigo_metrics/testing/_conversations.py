"""The fake's conversation endpoints: create and interact as NDJSON event streams, finish,
messages, and the list of conversations."""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Iterator
from datetime import datetime
from typing import Annotated, Any

import httpx
from amigo_sdk.generated.model import (
    ConversationCreateConversationRequest,
    ConversationCreateConversationResponse,
    ConversationGetConversationMessagesResponse,
    ConversationGetConversationsResponse,
    ConversationInstance,
    ConversationInteractWithConversationResponse,
    CreateConversationParametersQuery,
    GetConversationMessagesParametersQuery,
    GetConversationsParametersQuery,
    InteractWithConversationParametersQuery,
    InteractWithConversationRequest1,
    InteractWithConversationRequest2,
    MessageInstance,
)
from pydantic import BaseModel, Field, StringConstraints, TypeAdapter, ValidationError

from ._http import (
    APIError,
    EventStream,
    StreamFault,
    event_response,
    json_response,
    page_of,
    parse_body,
    parse_form,
    parse_query,
    refuse_blank,
    sort_by,
    tags_match,
    validation_error,
)
from .state import FakeConversation, FakeMessage, FakeOrganization, object_id, utcnow

CHUNK_WORDS = 6
Events = Iterator[dict[str, object]]
# Conversation tags have their own rule (the create-conversation schema): keys of letters,
# digits, `_` and spaces; values any text up to 100 characters; at most 20.
_TAGS: TypeAdapter[dict[str, str | None]] = TypeAdapter(
    Annotated[
        dict[
            Annotated[
                str, StringConstraints(strip_whitespace=True, min_length=1, pattern=r"^[\w\s]+$")
            ],
            Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
            | None,
        ],
        Field(max_length=20),
    ]
)


class Stream:
    """How a stream is served: the fake's lock, and the faults scripted for the endpoint (the
    next one is taken when a stream is actually served)."""

    def __init__(self, lock: threading.Lock, faults: deque[StreamFault]) -> None:
        self.lock = lock
        self.faults = faults

    def respond(
        self, model: type[BaseModel], events: Events, latency: float = 0.0
    ) -> httpx.Response:
        fault = self.faults.popleft() if self.faults else None
        return event_response(EventStream(model, events, self.lock, fault, latency))


def _agent_turn(
    conversation: FakeConversation, interaction_id: str, text: str, completed: bool
) -> Events:
    """The agent's message streamed in pieces, then interaction-complete."""
    message_id = object_id()
    words = text.split(" ")
    pieces = [" ".join(words[i : i + CHUNK_WORDS]) for i in range(0, len(words), CHUNK_WORDS)]
    conversation.messages.append(
        FakeMessage(message_id, interaction_id, "agent-message", "agent", text, utcnow())
    )
    for i, piece in enumerate(pieces):
        yield {
            "type": "new-message",
            "message": piece if i == 0 else " " + piece,
            "transcript_alignment": None,
            "stop": i == len(pieces) - 1,
            "sequence_number": i,
            "message_id": message_id,
        }
    yield {
        "type": "interaction-complete",
        "message_id": message_id,
        "interaction_id": interaction_id,
        "full_message": text,
        "conversation_completed": completed,
    }


def _reply(org: FakeOrganization, conversation: FakeConversation, interaction_id: str) -> Events:
    """The service's turn, computed when the stream reaches it; a service that raises streams
    an error event, as the API does. A first turn that fails leaves no interaction."""
    try:
        text = org.services[conversation.service_id].reply(conversation.history())
    except Exception as exc:
        yield {"type": "error", "http_error_code": 500, "error_description": str(exc)}
        return
    if interaction_id not in conversation.interactions:
        conversation.interactions.append(interaction_id)
    completed = _completes(org, conversation)
    conversation.finished = conversation.finished or completed
    yield from _agent_turn(conversation, interaction_id, text, completed)


def _completes(org: FakeOrganization, conversation: FakeConversation) -> bool:
    limit = org.services[conversation.service_id].complete_after
    return limit is not None and len(conversation.interactions) >= limit


def _refuse_voice_without_format(response_format: str, request: httpx.Request) -> None:
    if response_format == "voice" and "response_audio_format" not in request.url.params:
        raise APIError(
            400, "The response_audio_format field is not set when voice output is requested."
        )
    if response_format == "voice":
        raise APIError(400, "The agent does not have voice config specified.")


def create_conversation(
    org: FakeOrganization, user_id: str, request: httpx.Request, stream: Stream
) -> httpx.Response:
    params = parse_query(CreateConversationParametersQuery, request)
    untagged, raw_tags = _split_tags(request)
    body, _ = parse_body(ConversationCreateConversationRequest, untagged)
    tags = _conversation_tags(raw_tags)
    _refuse_voice_without_format(params.response_format.value, request)
    service = org.services.get(body.service_id)
    version_set = body.service_version_set_name or "release"
    if service is None or version_set not in service.version_sets:
        raise APIError(404)
    if body.initial_message_type is not None and body.initial_message is None:
        raise APIError(
            422, [{"loc": ["body", "initial_message_type"], "msg": "needs initial_message"}]
        )
    if any(c.user_id == user_id and not c.finished for c in org.conversations.values()):
        raise APIError(
            400, "Attempting to start a conversation when other unfinished conversations exist."
        )
    conversation = FakeConversation(object_id(), service.id, version_set, user_id, tags=tags)
    interaction_id = object_id()

    def events() -> Events:  # the conversation exists once the stream says so
        org.conversations[conversation.id] = conversation
        if body.initial_message is not None:
            kind = body.initial_message_type.value if body.initial_message_type else "user-message"
            text = str(body.initial_message.root)
            conversation.messages.append(
                FakeMessage(object_id(), interaction_id, kind, "user", text, utcnow())
            )
        yield {"type": "conversation-created", "conversation_id": conversation.id}
        yield from _reply(org, conversation, interaction_id)

    return stream.respond(ConversationCreateConversationResponse, events(), service.latency)


def _split_tags(request: httpx.Request) -> tuple[httpx.Request, Any]:
    """The request without its tags, and the tags, checked apart by `_conversation_tags`: the
    generated model's tag keys are RootModels pydantic cannot hash."""
    try:
        raw = json.loads(request.content or b"null")
    except ValueError:
        return request, None
    if not isinstance(raw, dict) or "tags" not in raw:
        return request, None
    tags = raw.pop("tags")
    return httpx.Request(request.method, request.url, json=raw), tags


def _conversation_tags(raw: Any) -> dict[str, str | None]:
    if raw is None:
        return {}
    try:
        return _TAGS.validate_python(raw)
    except ValidationError as exc:
        raise validation_error(exc, "body") from None


def _conversation(org: FakeOrganization, conversation_id: str) -> FakeConversation:
    conversation = org.conversations.get(conversation_id)
    if conversation is None:
        raise APIError(404)
    return conversation


def _interact_form(
    request: httpx.Request,
) -> InteractWithConversationRequest1 | InteractWithConversationRequest2:
    form = parse_form(request)
    kinds = [k.decode() for k in form.get("initial_message_type", [b"user-message"])]
    models: dict[str, type[InteractWithConversationRequest1 | InteractWithConversationRequest2]]
    models = {
        "user-message": InteractWithConversationRequest2,
        "external-event": InteractWithConversationRequest1,
    }
    if kinds[0] not in models:
        raise APIError(422, [{"loc": ["body", "initial_message_type"], "msg": "invalid type"}])
    data = {
        "initial_message_type": kinds[0],
        "recorded_message": b"".join(form.get("recorded_message", [])).decode("utf-8").strip(),
        "external_event_message_content": [
            v.decode() for v in form.get("external_event_message_content", [])
        ],
        "external_event_message_timestamp": [
            v.decode() for v in form.get("external_event_message_timestamp", [])
        ],
    }
    if not data["recorded_message"]:
        raise APIError(400, "The user message is empty.")
    try:
        parsed = models[kinds[0]].model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc, "body") from None
    refuse_blank(parsed, "body")
    return parsed


def _external_events(
    conversation: FakeConversation, contents: list[str], timestamps: list[datetime]
) -> list[tuple[str, datetime]]:
    """External events as the API takes them: one timestamp per content, in the past, in
    order, and after what the conversation already holds."""
    if len(contents) != len(timestamps):
        raise APIError(
            422,
            [
                {
                    "loc": ["body", "external_event_message_timestamp"],
                    "msg": "one timestamp per external event message is required",
                }
            ],
        )
    now = utcnow()
    if any(t >= now for t in timestamps):
        raise APIError(400, "The timestamps for external event messages are not in the past.")
    last = max((m.created_at for m in conversation.messages), default=conversation.created_at)
    if timestamps != sorted(timestamps) or (timestamps and timestamps[0] < last):
        raise APIError(
            400,
            "The timestamps for external event messages are inconsistent with the conversation.",
        )
    return list(zip(contents, timestamps, strict=True))


def interact(
    org: FakeOrganization, conversation_id: str, request: httpx.Request, stream: Stream
) -> httpx.Response:
    params = parse_query(InteractWithConversationParametersQuery, request)
    conversation = _conversation(org, conversation_id)
    form = _interact_form(request)
    if params.request_format.value != "text":
        raise APIError(400, "The fake Amigo API serves text conversations only.")
    _refuse_voice_without_format(params.response_format.value, request)
    if conversation.finished:
        raise APIError(409, "The specified conversation is already finished.")
    events = _external_events(
        conversation,
        [str(c.root) for c in form.external_event_message_content or []],
        list(form.external_event_message_timestamp or []),
    )
    interaction_id = object_id()
    conversation.interactions.append(interaction_id)
    for content, at in events:  # stored before the user's message, at their own times
        conversation.messages.append(
            FakeMessage(object_id(at), interaction_id, "external-event", "external", content, at)
        )
    conversation.messages.append(
        FakeMessage(
            object_id(),
            interaction_id,
            form.initial_message_type,
            "user",
            form.recorded_message,
            utcnow(),
        )
    )
    return stream.respond(
        ConversationInteractWithConversationResponse,
        _reply(org, conversation, interaction_id),
        org.services[conversation.service_id].latency,
    )


def finish(org: FakeOrganization, conversation_id: str) -> httpx.Response:
    conversation = _conversation(org, conversation_id)
    if conversation.finished:
        raise APIError(409, "The specified conversation is already finished.")
    if not conversation.interactions:
        raise APIError(400, "The conversation has no interactions.")
    conversation.finished = True
    return httpx.Response(204)


def conversations(org: FakeOrganization, request: httpx.Request) -> httpx.Response:
    params = parse_query(GetConversationsParametersQuery, request)
    users = set(params.user_id or [])
    services = {s.root for s in params.service_id or []}
    ids = {i.root for i in params.id or []}
    found = [
        c
        for c in org.conversations.values()
        if (not users or c.user_id in users)
        and (not services or c.service_id in services)
        and (not ids or c.id in ids)
        and (params.is_finished is None or c.finished == params.is_finished)
        and all(tags_match(c.tags, t) for t in params.tag or [])
    ]
    ordered = sort_by(found, params.sort_by or [], ("created_at",))
    page, more, token = page_of(ordered, params.continuation_token or 0, params.limit or 150)
    return json_response(
        ConversationGetConversationsResponse(
            conversations=[
                ConversationInstance.model_validate(
                    {
                        "id": c.id,
                        "user_id": c.user_id,
                        "created_at": c.created_at,
                        "is_finished": c.finished,
                        "is_analyzed": False,
                        "completed_post_processings": [],
                        "final_message": c.messages[-1].message if c.messages else "",
                        "service_id": c.service_id,
                        "version_set_info": None,
                        "num_messages": len(c.messages),
                        "tags": c.tags,
                    }
                )
                for c in page
            ],
            has_more=more,
            continuation_token=token,
        )
    )


def messages(org: FakeOrganization, conversation_id: str, request: httpx.Request) -> httpx.Response:
    params = parse_query(GetConversationMessagesParametersQuery, request)
    conversation = _conversation(org, conversation_id)
    wanted_ids = {i.root for i in params.id or []}
    interactions = {i.root for i in params.interaction_id or []}
    types = {t.value for t in params.message_type or []}
    selected = [
        m
        for m in conversation.messages
        if (not wanted_ids or m.id in wanted_ids)
        and (not interactions or m.interaction_id in interactions)
        and m.message_type in types
    ]
    # Newest first unless asked otherwise: `has_more` means earlier messages remain.
    ordered = sort_by(selected, params.sort_by or ["-created_at"], ("created_at", "interaction_id"))
    page, more, token = page_of(ordered, params.continuation_token or 0, params.limit or 500)
    return json_response(
        ConversationGetConversationMessagesResponse(
            messages=[
                MessageInstance(
                    id=m.id,
                    interaction_id=m.interaction_id,
                    created_at=m.created_at,
                    sender=m.sender,
                    message=m.message,
                    format="text",
                    message_type=m.message_type,
                )
                for m in page
            ],
            has_more=more,
            continuation_token=token,
        )
    )
