"""A service on the Amigo API as the agent under test: create the conversation, one interact
call per user turn, finish. The transcript keeps Amigo's conversation, interaction and message
ids, so the judge's references and the stored results point at real messages."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from functools import partial
from typing import Any

from amigo_sdk.generated.model import (
    ConversationCreateConversationRequest,
    CreateConversationParametersQuery,
    GetConversationMessagesParametersQuery,
    InteractWithConversationParametersQuery,
)

from ..amigo.client import AmigoAPI
from ..amigo.endpoints import ENDPOINTS
from ..amigo.errors import AmigoAPIError
from ..amigo.finishing import finish_conversation, finish_leftovers
from ..amigo.rate_limits import note_wait
from ..errors import AmigoRunError
from ..ids import new_id
from ..runs.transcript import Message, Transcript
from ..suite.spec import AmigoTargetSpec
from .base import Chat

NO_ACTION_EVENTS = "^$"  # the agent's intermediate actions are not needed here
ROLES = {"user-message": "user", "agent-message": "agent"}


class AmigoServiceAgent:
    def __init__(self, target: AmigoTargetSpec, api: AmigoAPI) -> None:
        self.target = target
        self.api = api

    @property
    def name(self) -> str:
        return f"amigo:{self.target.service_id}@{self.target.version_set}"

    @contextlib.asynccontextmanager
    async def conversation(self, transcript: Transcript) -> AsyncIterator[Chat]:
        # The API allows one unfinished conversation per user: conversations take turns, and
        # one an earlier run left open is finished before this one starts.
        async with self.api.limiter.conversation_slot() as waited:
            note_wait(waited)
            await finish_leftovers(self.api)
            chat = AmigoChat(self.api, transcript)
            try:
                await chat.start(self.target)
                yield chat
            except BaseException:  # finish what was started, so the next run can start
                with contextlib.suppress(AmigoRunError):
                    await chat.finish()
                raise
            await chat.finish()
            await chat.reload()


class AmigoChat:
    def __init__(self, api: AmigoAPI, transcript: Transcript) -> None:
        self.api = api
        self.transcript = transcript
        self.created = False
        self.ended = False
        self.finished = False

    @property
    def conversation_id(self) -> str:
        return self.transcript.conversation_id

    async def start(self, target: AmigoTargetSpec) -> None:
        body = ConversationCreateConversationRequest(
            service_id=target.service_id,
            service_version_set_name=target.version_set,
            is_test=True,  # simulated traffic: no post-session analysis, memories or webhooks
        )
        params = CreateConversationParametersQuery(
            response_format="text",
            current_agent_action_type=NO_ACTION_EVENTS,
        )
        events = await self.api.stream(
            "create-conversation",
            lambda: self.api.conversations.create_conversation(body, params),
            self._on_event("create-conversation"),
        )
        if not self.created:
            raise AmigoRunError("Amigo API: create-conversation streamed no conversation id")
        self._take_agent_turn("create-conversation", [e.root for e in events])

    async def send(self, message: str) -> None:
        params = InteractWithConversationParametersQuery(
            request_format="text",
            response_format="text",
            current_agent_action_type=NO_ACTION_EVENTS,
        )
        events = await self.api.stream(
            "interact-with-conversation",
            lambda: self.api.conversations.interact_with_conversation(
                self.conversation_id, params, text_message=message
            ),
            self._on_event("interact-with-conversation"),
            conversation_id=self.conversation_id,
        )
        done = self._take_agent_turn("interact-with-conversation", [e.root for e in events])
        # The user's message id arrives with reload(); until then it carries a local one.
        user = Message(id=new_id(), interaction_id=done, role="user", content=message)
        self.transcript.messages.insert(len(self.transcript.messages) - 1, user)

    def _on_event(self, endpoint: str) -> Callable[[Any], None]:
        """Act on each event as it arrives: the conversation id from the first one on (so a
        stream that breaks later still leaves a conversation to finish), and an error event
        with its own status and message."""

        def on_event(event: Any) -> None:
            event = event.root
            if event.type == "conversation-created":
                self.transcript.conversation_id = event.conversation_id
                self.created = True
            elif event.type == "error":
                ids = {"conversation_id": self.conversation_id} if self.created else {}
                raise AmigoAPIError(
                    ENDPOINTS[endpoint],
                    ENDPOINTS[endpoint].label(self.api.organization_id, **ids),
                    event.http_error_code,
                    event.error_description,
                )

        return on_event

    def _take_agent_turn(self, endpoint: str, events: list[Any]) -> str:
        complete = [e for e in events if e.type == "interaction-complete"]
        if not complete:
            raise AmigoRunError(
                f"Amigo API {endpoint}: the stream ended before the interaction completed"
            )
        last = complete[-1]
        self.transcript.add(
            Message(
                id=last.message_id,
                interaction_id=last.interaction_id,
                role="agent",
                content=last.full_message,
            )
        )
        self.ended = self.ended or last.conversation_completed
        return str(last.interaction_id)

    async def finish(self) -> None:
        if self.finished or self.ended or not self.created:
            return
        self.finished = True
        await finish_conversation(self.api, self.conversation_id)

    async def reload(self) -> None:
        """The conversation's messages as Amigo stored them, with their ids."""
        messages: list[Message] = []
        token = 0
        while True:
            params = GetConversationMessagesParametersQuery(
                sort_by=["+created_at"], continuation_token=token
            )
            page = await self.api.call(
                "get-conversation-messages",
                partial(
                    self.api.conversations.get_conversation_messages, self.conversation_id, params
                ),
                conversation_id=self.conversation_id,
            )
            messages += [
                Message(
                    id=m.id,
                    interaction_id=m.interaction_id,
                    role=ROLES[m.message_type.value],
                    content=m.message,
                )
                for m in page.messages
                if m.message_type.value in ROLES
            ]
            if not page.has_more or page.continuation_token is None:
                break
            token = page.continuation_token
        self.transcript.messages = []
        self.transcript.interaction_ids = []
        for message in messages:
            self.transcript.add(message)
