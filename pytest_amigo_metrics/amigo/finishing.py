"""No conversation is left unfinished: the API allows one unfinished conversation per user, so
one left open would refuse every later run of that user (400 on create-conversation)."""

from __future__ import annotations

from functools import partial

from amigo_sdk.generated.model import (
    GetConversationsParametersQuery,
    InteractWithConversationParametersQuery,
)

from .client import AmigoAPI
from .errors import AmigoAPIError

# Statuses after which finishing may still succeed: the SDK already retried 429 and 503 (with
# Retry-After); 500/502/504 and a request that did not complete are retried here.
RETRIED_FINISH = frozenset({None, 500, 502, 504})
CLOSING_MESSAGE = "(The automated test has ended; this message only closes the conversation.)"
NO_EVENTS = "^$"


async def finish_conversation(api: AmigoAPI, conversation_id: str) -> None:
    """Finish the conversation, whatever a first attempt answers: transient failures are
    retried, a conflict checks whether it is finished already, and a conversation with no
    interactions (its first agent turn failed), which the API refuses to finish, is given one."""
    try:
        await _finish_retrying(api, conversation_id)
    except AmigoAPIError as exc:
        if exc.status != 400:  # finish's only documented 400: the conversation has no interactions
            raise
        await _add_interaction(api, conversation_id)
        await _finish_retrying(api, conversation_id)


async def _finish_retrying(api: AmigoAPI, conversation_id: str) -> None:
    for attempt in range(1, api.retry.attempts + 1):
        try:
            with api.retry_after() as retry_after:
                await _finish_once(api, conversation_id)
            return
        except AmigoAPIError as exc:
            if exc.status == 409 and await is_finished(api, conversation_id):
                return
            if exc.status not in RETRIED_FINISH | {409} or attempt == api.retry.attempts:
                if attempt == 1:
                    raise
                raise AmigoAPIError(
                    exc.endpoint, exc.label, exc.status, exc.detail, max(exc.attempts, attempt)
                ) from None
        await api.wait_to_retry(attempt, retry_after[0])


async def _finish_once(api: AmigoAPI, conversation_id: str) -> None:
    await api.call(
        "finish-conversation",
        lambda: api.conversations.finish_conversation(conversation_id),
        conversation_id=conversation_id,
    )


async def _add_interaction(api: AmigoAPI, conversation_id: str) -> None:
    """One user message, so the conversation has an interaction and can be finished; what the
    agent answers (an error event, even) does not matter."""
    params = InteractWithConversationParametersQuery(
        request_format="text",
        response_format="text",
        current_agent_action_type=NO_EVENTS,
    )
    await api.stream(
        "interact-with-conversation",
        lambda: api.conversations.interact_with_conversation(
            conversation_id, params, text_message=CLOSING_MESSAGE
        ),
        conversation_id=conversation_id,
    )


async def is_finished(api: AmigoAPI, conversation_id: str) -> bool:
    """Whether the API lists the conversation as finished; False when it cannot tell (the key
    may lack the permission to list), so the finish is tried again."""
    query = GetConversationsParametersQuery(id=[conversation_id])
    try:
        page = await api.call(
            "get-conversations", partial(api.conversations.get_conversations, query)
        )
    except AmigoAPIError:
        return False
    return any(c.id == conversation_id and c.is_finished for c in page.conversations)


async def unfinished_conversations(api: AmigoAPI) -> list[str]:
    """The ids of the API user's unfinished conversations."""
    query = GetConversationsParametersQuery(
        user_id=[api.credentials.user_id],
        is_finished=False,
        sort_by=["+created_at"],
    )
    page = await api.call("get-conversations", partial(api.conversations.get_conversations, query))
    return [c.id for c in page.conversations if not c.is_finished]


async def finish_leftovers(api: AmigoAPI) -> list[str]:
    """Finish what an earlier run left unfinished (a failed finish, a killed process): called
    while holding the user's conversation slot, so no run of this machine has one open."""
    try:
        leftovers = await unfinished_conversations(api)
    except AmigoAPIError:
        # Listing needs a permission the key may lack; then create-conversation says whether
        # a conversation is left open (400), as it did before this check.
        return []
    for conversation_id in leftovers:
        await finish_conversation(api, conversation_id)
    return leftovers
