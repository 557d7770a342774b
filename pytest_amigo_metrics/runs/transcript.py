"""The conversation record: messages with ids, grouped into interactions."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, field_validator

from ..ids import new_id
from ..redact import whole_characters

Role = Literal["user", "agent"]
EndReason = Literal[
    "objective_reached", "abandoned", "script_completed", "max_turns", "agent_ended"
]


class Message(BaseModel):
    id: str
    interaction_id: str
    role: Role
    content: str

    @field_validator("content")
    @classmethod
    def _whole_characters(cls, content: str) -> str:
        # Sent on to models as JSON, and written to reports: half a character can be neither.
        return whole_characters(content)


class Transcript(BaseModel):
    """One simulated conversation. An interaction is a user message and the agent's reply."""

    conversation_id: str = Field(default_factory=new_id)
    messages: list[Message] = Field(default_factory=list)
    interaction_ids: list[str] = Field(default_factory=list)
    end_reason: EndReason | None = None

    def add_user_turn(self, content: str) -> Message:
        """A user message opens a new interaction."""
        return self.add(Message(id=new_id(), interaction_id=new_id(), role="user", content=content))

    def add_agent_turn(self, content: str) -> Message:
        """The agent's reply, in the current interaction (a new one if the agent speaks first)."""
        interaction = self.interaction_ids[-1] if self.interaction_ids else new_id()
        return self.add(
            Message(id=new_id(), interaction_id=interaction, role="agent", content=content)
        )

    def add(self, message: Message) -> Message:
        if message.interaction_id not in self.interaction_ids:
            self.interaction_ids.append(message.interaction_id)
        self.messages.append(message)
        return message

    def interaction_of_turn(self, turn: int) -> str | None:
        """The interaction of the n-th user message (1-based); None if there are fewer."""
        users = [m for m in self.messages if m.role == "user"]
        return users[turn - 1].interaction_id if len(users) >= turn else None

    def up_to_turn(self, turn: int | None) -> Transcript:
        """The conversation up to the agent's reply to the n-th user message (all of it when
        `turn` is None or beyond the end)."""
        last = self.interaction_of_turn(turn) if turn is not None else None
        if last is None:
            return self
        keep = set(self.interaction_ids[: self.interaction_ids.index(last) + 1])
        return self.model_copy(
            update={
                "messages": [m for m in self.messages if m.interaction_id in keep],
                "interaction_ids": [i for i in self.interaction_ids if i in keep],
            }
        )

    def message_ids(self) -> set[str]:
        return {m.id for m in self.messages}

    def as_chat(self, perspective: Role) -> list[dict[str, str]]:
        """OpenAI-style messages: the `perspective` role speaks as `assistant`."""
        return [
            {"role": "assistant" if m.role == perspective else "user", "content": m.content}
            for m in self.messages
        ]

    def as_judge_input(self) -> list[dict[str, str]]:
        return [
            {"id": m.id, "interaction_id": m.interaction_id, "role": m.role, "content": m.content}
            for m in self.messages
        ]
