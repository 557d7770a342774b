"""What the built-in offline provider answers, as pure functions of the prompt.

Roles are chosen by model name: `offline/simulator`, `offline/judge`, anything else is an
agent. Same messages in, same text out, on any machine: no randomness, no clock.

The offline judge is a keyword heuristic, not a model's opinion. It reads the metric's
description, keeps its content words ("terms") and looks for them in the agent's messages
(a term matches a word sharing its first five letters):
- boolean: true when at least half of the terms appear;
- numerical: lower_bound + coverage x (upper_bound - lower_bound), coverage being the share
  of terms that appear (rounded to a whole number when both bounds are whole);
- categorical: the category the agent named last; n/a when the agent named none.
"""

from __future__ import annotations

import functools
import json
import re
from typing import Any

OFFLINE_NOTE = (
    "Offline judgement by the built-in deterministic provider (keyword heuristic, not a model)"
)
SIMULATOR_TURNS = (
    "Could you tell me exactly what happens next?",
    "How long will that take?",
    "Is there anything I need to do on my side?",
)

_STOPWORDS = frozenset(
    (
        "about",
        "above",
        "after",
        "again",
        "against",
        "agent",
        "agents",
        "also",
        "another",
        "answer",
        "asked",
        "assistant",
        "before",
        "being",
        "below",
        "between",
        "both",
        "conversation",
        "could",
        "customer",
        "customers",
        "does",
        "doing",
        "during",
        "each",
        "from",
        "further",
        "have",
        "having",
        "here",
        "into",
        "itself",
        "just",
        "like",
        "made",
        "make",
        "many",
        "more",
        "most",
        "much",
        "must",
        "only",
        "other",
        "over",
        "rate",
        "rated",
        "rating",
        "same",
        "score",
        "scored",
        "should",
        "some",
        "such",
        "than",
        "that",
        "their",
        "them",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "under",
        "until",
        "user",
        "users",
        "very",
        "were",
        "what",
        "when",
        "where",
        "whether",
        "which",
        "while",
        "with",
        "within",
        "would",
        "your",
        "yours",
    )
)


def respond(role: str, messages: list[dict[str, Any]]) -> str:
    if role == "simulator":
        return simulate_user(messages)
    if role == "judge":
        return judge(messages)
    return agent_reply(messages)


def _system(messages: list[dict[str, Any]]) -> str:
    return "\n".join(str(m.get("content", "")) for m in messages if m.get("role") == "system")


def _label(text: str, label: str) -> str:
    match = re.search(rf"^{label}:\s*(.+)$", text, re.MULTILINE)
    return match[1].strip() if match else ""


def simulate_user(messages: list[dict[str, Any]]) -> str:
    """Greets with the objective, asks three follow-ups, then reports the objective reached."""
    system = _system(messages)
    own_turns = sum(1 for m in messages if m.get("role") == "assistant")
    if own_turns == 0:
        name, objective = _label(system, "Persona name"), _label(system, "Objective")
        text = f"Hi, I'm {name}. {objective}".strip()
        return json.dumps({"action": "send", "message": text})
    if own_turns <= len(SIMULATOR_TURNS):
        return json.dumps({"action": "send", "message": SIMULATOR_TURNS[own_turns - 1]})
    return json.dumps({"action": "objective_reached", "message": ""})


def agent_reply(messages: list[dict[str, Any]]) -> str:
    last = next((str(m["content"]) for m in reversed(messages) if m.get("role") == "user"), "")
    return f"Thanks for your message. You said: {last!r}. Here is how I can help."


def judge(messages: list[dict[str, Any]]) -> str:
    payload = _judge_payload(messages)
    metric = payload["metric"]
    agent = [m for m in payload["conversation"] if m.get("role") == "agent"]
    kind = metric["metric_value"]["type"]
    if kind == "categorical":
        value, refs, why = _categorical(metric["metric_value"]["categories"], agent)
    else:
        value, refs, why = _by_terms(metric, agent)
    if not refs and agent:
        refs = [agent[-1]["id"]]
    return json.dumps(
        {"value": value, "justification": f"{OFFLINE_NOTE}: {why}", "references": refs}
    )


def _judge_payload(messages: list[dict[str, Any]]) -> dict[str, Any]:
    for message in reversed(messages):
        if message.get("role") == "user":
            try:
                data = json.loads(str(message["content"]))
            except json.JSONDecodeError:
                continue
            if isinstance(data, dict) and {"metric", "conversation"} <= data.keys():
                return data
    raise ValueError("the offline judge found no metric and conversation in the prompt")


@functools.lru_cache(maxsize=4096)  # a conversation's messages are read once per metric
def terms_of(text: str) -> tuple[str, ...]:
    words = re.findall(r"[a-z]+", text.lower())
    seen: dict[str, None] = {}
    for word in words:
        if len(word) >= 4 and word not in _STOPWORDS:
            seen.setdefault(word, None)
    return tuple(seen)


def _stem(word: str) -> str:
    return word[:5]


def _by_terms(metric: dict[str, Any], agent: list[dict[str, Any]]) -> tuple[Any, list[str], str]:
    terms = terms_of(metric["description"])
    stems = [(m["id"], {_stem(w) for w in terms_of(m["content"])}) for m in agent]
    found: list[str] = []
    refs: list[str] = []
    for term in terms:
        hits = [message_id for message_id, said in stems if _stem(term) in said]
        if hits:
            found.append(term)
            refs.extend(h for h in hits if h not in refs)
    coverage = len(found) / len(terms) if terms else 0.0
    listed = ", ".join(found) or "none"
    share = (
        f"the agent used {len(found)} of {len(terms)} terms of the metric's description ({listed})"
    )
    spec = metric["metric_value"]
    if spec["type"] == "boolean":
        value: Any = coverage >= 0.5
        return value, refs, f"{share}; true needs at least half"
    low, high = float(spec["lower_bound"]), float(spec["upper_bound"])
    score = low + coverage * (high - low)
    value = round(score) if low.is_integer() and high.is_integer() else round(score, 2)
    return value, refs, f"{share}; score = {low:g} + {coverage:.2f} x ({high:g} - {low:g})"


def _categorical(categories: list[str], agent: list[dict[str, Any]]) -> tuple[Any, list[str], str]:
    for message in reversed(agent):
        text = message["content"].lower()
        positions = {
            c: m.start()
            for c in categories
            for m in [*re.finditer(rf"\b{re.escape(c.lower())}\b", text)][-1:]
        }
        if positions:
            chosen = max(positions, key=lambda c: positions[c])
            return chosen, [message["id"]], f"the agent last named the category {chosen!r}"
    return None, [], "the agent named none of the categories, so the metric is not applicable"
