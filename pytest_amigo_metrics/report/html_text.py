"""Small text helpers of the HTML report: escaping, anchors, numbers."""

from __future__ import annotations

import re
from datetime import datetime
from html import escape

from ..verdicts.outcomes import Usage

_UNSAFE_IN_ID = re.compile(r"[^A-Za-z0-9_-]")


def text(value: object) -> str:
    """Any value as HTML text or attribute content (markup escaped)."""
    return escape(str(value), quote=True)


def anchor(*parts: object) -> str:
    """An element id (and #fragment) made of letters, digits, `_` and `-` only."""
    return "-".join(_UNSAFE_IN_ID.sub(lambda m: f"_{ord(m[0]):x}_", str(p)) for p in parts)


def when(moment: datetime | None) -> str:
    if moment is None:
        return "not recorded"
    return moment.strftime("%Y-%m-%d %H:%M:%S") + (" UTC" if moment.utcoffset() is not None else "")


def duration(started: datetime, ended: datetime | None) -> str:
    if ended is None:
        return ""
    seconds = (ended - started).total_seconds()
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s"


def plural(count: int, word: str) -> str:
    return f"{count:,} {word}{'' if count == 1 else 's'}"


def percent(rate: float | None) -> str:
    return "\u2013" if rate is None else f"{rate * 100:.0f} %"


def cost(usage: Usage) -> str:
    if usage.cost_usd is None:
        return "unknown"
    if usage.cost_usd == 0:
        return "$0"
    return f"${usage.cost_usd:.4f}" if usage.cost_usd < 1 else f"${usage.cost_usd:.2f}"


def tokens(usage: Usage) -> int:
    return usage.prompt_tokens + usage.completion_tokens


def usage_sentence(usage: Usage) -> str:
    """`12 model calls (2 replayed); 3,400 tokens (3,000 prompt, 400 completion); cost $0.0123`"""
    replayed = f" ({usage.replayed_calls} replayed)" if usage.replayed_calls else ""
    unknown = " (a model without a known price was used)" if usage.cost_usd is None else ""
    return (
        f"{plural(usage.calls, 'model call')}{replayed}; "
        f"{tokens(usage):,} tokens ({usage.prompt_tokens:,} prompt, "
        f"{usage.completion_tokens:,} completion); cost {cost(usage)}{unknown}"
    )
