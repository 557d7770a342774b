"""Who the plugin is on the Amigo API. From the environment (the SDK's own AMIGO_* names) or
ini options; the API key from the environment only, never from a file kept in a repository."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlparse

if TYPE_CHECKING:
    from amigo_sdk import AmigoConfig

DEFAULT_BASE_URL = "https://api.amigo.ai"
# The hosts the API schema lists under `servers`; any other http(s) URL is accepted too (proxies).
DOCUMENTED_HOSTS = (
    "https://api.amigo.ai",
    "https://internal-api.amigo.ai",
    "https://api-eu-central-1.amigo.ai",
    "https://api-ap-southeast-2.amigo.ai",
    "https://api-ca-central-1.amigo.ai",
)
FIELDS = {  # field: (environment variable, ini option or None)
    "organization_id": ("AMIGO_ORGANIZATION_ID", "amigo_organization_id"),
    "api_key_id": ("AMIGO_API_KEY_ID", "amigo_api_key_id"),
    "api_key": ("AMIGO_API_KEY", None),
    "user_id": ("AMIGO_USER_ID", "amigo_user_id"),
    "base_url": ("AMIGO_BASE_URL", "amigo_base_url"),
}


class IniReader(Protocol):
    def getini(self, name: str) -> object: ...


class CredentialsError(Exception):
    pass


@dataclass(frozen=True)
class AmigoCredentials:
    organization_id: str
    api_key_id: str
    api_key: str = field(repr=False)
    user_id: str
    base_url: str = DEFAULT_BASE_URL

    @classmethod
    def resolve(cls, config: IniReader) -> AmigoCredentials:
        values: dict[str, str] = {}
        missing: list[str] = []
        for name, (env, ini) in FIELDS.items():
            value = os.environ.get(env) or (str(config.getini(ini) or "") if ini else "")
            if value.strip():
                values[name] = value.strip()
            elif name != "base_url":
                missing.append(env + (f" (or ini {ini})" if ini else ""))
        if missing:
            raise CredentialsError(
                "the Amigo API needs credentials; set " + ", ".join(missing) + ". The API key "
                "is read from the environment only (a CI secret), never from a file."
            )
        base_url = values.get("base_url", DEFAULT_BASE_URL).rstrip("/")
        parsed = urlparse(base_url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise CredentialsError(
                f"AMIGO_BASE_URL {base_url!r} is not an http(s) URL; the API's hosts are "
                + ", ".join(DOCUMENTED_HOSTS)
            )
        values["base_url"] = base_url
        return cls(**values)

    def sdk_config(self) -> AmigoConfig:
        from amigo_sdk import AmigoConfig

        return AmigoConfig(
            api_key=self.api_key,
            api_key_id=self.api_key_id,
            user_id=self.user_id,
            organization_id=self.organization_id,
            base_url=self.base_url,
        )
