"""Keep secrets out of reports, stored results and logs; and text they cannot hold."""

from __future__ import annotations

import os
import re

_PATTERNS = [
    re.compile(r"\beyJ[\w-]{4,}\.[\w-]{4,}\.[\w-]{4,}"),  # JWTs
    re.compile(r"\b(sk|pk|rk|ak)-[A-Za-z0-9_-]{12,}"),  # provider API keys
    re.compile(r"(?i)(bearer|api[_-]?key[\"']?\s*[:=]\s*[\"']?)\s*[A-Za-z0-9._~+/-]{12,}"),
]
_URL_PASSWORD = re.compile(r"(\b[a-z][\w+.-]*://[^\s:/@]+:)[^\s@/]+(?=@)")
# A credential in a URL's query string: ?key=..., &access_token=..., &sig=...
_URL_QUERY_SECRET = re.compile(
    r"(?i)([?&][\w.-]*(?:key|token|secret|sig|signature|password|passwd|auth|credential)"
    r"[\w.-]*=)[^&#\s\"'<>]+"
)
_SECRET_ENV = re.compile(r"(?i)(KEY|TOKEN|SECRET|PASSWORD)")
MASK = "***"
_secrets: tuple[dict[bytes, bytes], list[str]] | None = None


def _secret_values() -> list[str]:
    """Values of the environment's secret-looking variables. Reading os.environ decodes every
    variable (half a millisecond per call); its raw dict is compared instead, and the values
    are read again only when the environment changed."""
    global _secrets
    raw = getattr(os.environ, "_data", None)
    if _secrets is not None and raw is not None and _secrets[0] == raw:
        return _secrets[1]
    values = [
        value for name, value in os.environ.items() if len(value) >= 8 and _SECRET_ENV.search(name)
    ]
    if isinstance(raw, dict):
        _secrets = (dict(raw), values)
    return values


def whole_characters(text: str) -> str:
    """`text` as UTF-8 can hold it: a lone surrogate (half of a character, e.g. a reply cut
    inside an emoji) becomes U+FFFD, and a surrogate pair the character it encodes."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text


def redact(text: str) -> str:
    """`text` without secrets (and with whole characters only), for what the plugin writes."""
    text = whole_characters(text)
    for value in _secret_values():
        if value in text:
            text = text.replace(value, MASK)
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: (m.group(1) + " " if m.lastindex else "") + MASK, text)
    text = _URL_QUERY_SECRET.sub(lambda m: m.group(1) + MASK, text)
    return _URL_PASSWORD.sub(lambda m: m.group(1) + MASK, text)
