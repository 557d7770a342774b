"""A demo support agent for "Acme Cloud", written as a plain Python callable.

The plugin calls `respond(messages)` with the conversation so far, as OpenAI-style messages
(`{"role": "user" | "assistant", "content": ...}`), and sends back the string it returns.
A real agent would call a model here; this one follows rules, so the demo runs anywhere.
"""

from __future__ import annotations

REFUND_LIMIT = 100


def respond(messages: list[dict[str, str]]) -> str:
    said = " ".join(m["content"].lower() for m in messages if m["role"] == "user")
    last = messages[-1]["content"].lower()
    if any(word in last for word in ("thanks", "thank you", "that's all")):
        return "You're welcome! I'll mark this ticket as resolved. Have a good day."
    if "refund" in said:
        return _refund(said)
    if "password" in said or "locked out" in said:
        return _password(last)
    if any(word in said for word in ("angry", "furious", "ridiculous", "third time")):
        return (
            "I'm so sorry, and I apologise for the repeated trouble. I acknowledge how much "
            "frustration this has caused. Let me reassure you: I'm escalating this to a senior "
            "engineer now, so the ticket is escalated and you'll hear back within the hour."
        )
    return "Happy to help. Could you tell me a little more about what you need?"


def _password(last: str) -> str:
    if "code" in last or any(ch.isdigit() for ch in last):
        return (
            "Thank you, that code matches, so your identity is verified. I've sent a reset link "
            "and your password can be changed now. I'll mark this as resolved."
        )
    return (
        "I apologise that you're locked out, I understand how frustrating that is. Before changing "
        "anything on the account I need to verify your identity: please read me the six-digit "
        "code we just emailed you."
    )


def _refund(said: str) -> str:
    amounts = [int(word.strip("$.,")) for word in said.split() if word.strip("$.,").isdigit()]
    if amounts and max(amounts) > REFUND_LIMIT:
        return (
            f"I apologise for the trouble. Refunds above ${REFUND_LIMIT} need our billing team, "
            "so I've escalated your request to them; they will reply by email within a day."
        )
    return "I apologise for the trouble. I've issued the refund; it is resolved on our side."
