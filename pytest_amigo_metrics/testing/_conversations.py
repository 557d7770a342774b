"""The fake's conversation endpoints: create and interact as NDJSON event streams, finish,
messages."""

from __future__ import annotations

import httpx
from amigo_sdk.generated.model import (
    ConversationCreateConversationRequest,
    ConversationCreateConversationResponse,
    ConversationGetConversationMessagesResponse,
    ConversationInteractWithConversationResponse,
    CreateConversationParametersQuery,
    GetConversationMessagesParametersQuery,
    InteractWithConversationParametersQuery,
    MessageInstance,
)
from pydantic import BaseModel

from ..ids import new_id
from ._http import (
    APIError,
    json_response,
    ndjson_response,
    page_of,
    parse_body,
    parse_form,
    parse_query,
    sort_by,
)
from .state import FakeConversation, FakeMessage, FakeOrganization, utcnow

CHUNK_WORDS = 6


def _agent_turn(
    conversation: FakeConversation, interaction_id: str, text: str, completed: bool
) -> list[dict[str, object]]:
    """The agent's message streamed in pieces, then interaction-complete."""
    message_id = new_id()
    words = text.split(" ")
    pieces = [" ".join(words[i : i + CHUNK_WORDS]) for i in range(0, len(words), CHUNK_WORDS)]
    events: list[dict[str, object]] = [
        {
            "type": "new-message",
            "message": piece if i == 0 else " " + piece,
            "transcript_alignment": None,
            "stop": i == len(pieces) - 1,
            "sequence_number": i,
            "message_id": message_id,
        }
        for i, piece in enumerate(pieces)
    ]
    conversation.messages.append(
        FakeMessage(message_id, interaction_id, "agent-message", "agent", text, utcnow())
    )
    events.append(
        {
            "type": "interaction-complete",
            "message_id": message_id,
            "interaction_id": interaction_id,
            "full_message": text,
            "conversation_completed": completed,
        }
    )
    return events


def _reply(
    org: FakeOrganization, conversation: FakeConversation, interaction_id: str
) -> list[dict[str, object]]:
    """The service's turn; a service that raises streams an error event, as the API does."""
    try:
        text = org.services[conversation.service_id].reply(conversation.history())
    except Exception as exc:
        return [{"type": "error", "http_error_code": 500, "error_description": str(exc)}]
    completed = _completes(org, conversation)
    conversation.finished = completed
    return _agent_turn(conversation, interaction_id, text, completed)


def _completes(org: FakeOrganization, conversation: FakeConversation) -> bool:
    limit = org.services[conversation.service_id].complete_after
    return limit is not None and len(conversation.interactions) >= limit


def _events(model: type[BaseModel], events: list[dict[str, object]]) -> httpx.Response:
    return ndjson_response([model.model_validate(e) for e in events])


def create_conversation(
    org: FakeOrganization, user_id: str, request: httpx.Request
) -> httpx.Response:
    parse_query(CreateConversationParametersQuery, request)
    body, _ = parse_body(ConversationCreateConversationRequest, request)
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
    conversation = FakeConversation(new_id(), service.id, version_set, user_id)
    org.conversations[conversation.id] = conversation
    events: list[dict[str, object]] = [
        {"type": "conversation-created", "conversation_id": conversation.id}
    ]
    interaction_id = new_id()
    conversation.interactions.append(interaction_id)
    if body.initial_message is not None:
        kind = body.initial_message_type.value if body.initial_message_type else "user-message"
        conversation.messages.append(
            FakeMessage(
                new_id(), interaction_id, kind, "user", str(body.initial_message.root), utcnow()
            )
        )
    events += _reply(org, conversation, interaction_id)
    return _events(ConversationCreateConversationResponse, events)


def _conversation(org: FakeOrganization, conversation_id: str) -> FakeConversation:
    conversation = org.conversations.get(conversation_id)
    if conversation is None:
        raise APIError(404)
    return conversation


def interact(org: FakeOrganization, conversation_id: str, request: httpx.Request) -> httpx.Response:
    params = parse_query(InteractWithConversationParametersQuery, request)
    conversation = _conversation(org, conversation_id)
    form = parse_form(request)
    if params.request_format.value != "text":
        raise APIError(400, "The fake Amigo API serves text conversations only.")
    kinds = [k.decode() for k in form.get("initial_message_type", [b"user-message"])]
    if kinds[0] not in ("user-message", "external-event"):
        raise APIError(422, [{"loc": ["body", "initial_message_type"], "msg": "invalid type"}])
    text = b"".join(form.get("recorded_message", [])).decode("utf-8").strip()
    if not text:
        raise APIError(400, "The user message is empty.")
    if conversation.finished:
        raise APIError(409, "The specified conversation is already finished.")
    interaction_id = new_id()
    conversation.interactions.append(interaction_id)
    conversation.messages.append(
        FakeMessage(new_id(), interaction_id, kinds[0], "user", text, utcnow())
    )
    return _events(
        ConversationInteractWithConversationResponse, _reply(org, conversation, interaction_id)
    )


def finish(org: FakeOrganization, conversation_id: str) -> httpx.Response:
    conversation = _conversation(org, conversation_id)
    if conversation.finished:
        raise APIError(409, "The specified conversation is already finished.")
    if not conversation.interactions:
        raise APIError(400, "The conversation has no interactions.")
    conversation.finished = True
    return httpx.Response(204)


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
