"""24-hex-character ids, in the Amigo API's ObjectId form."""

from __future__ import annotations

import hashlib
import secrets


def stable_id(*parts: str) -> str:
    """A deterministic id for the same parts, on any machine."""
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:24]


def new_id() -> str:
    return secrets.token_hex(12)
