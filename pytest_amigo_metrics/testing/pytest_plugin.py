"""The fake Amigo API as a pytest plugin: pytest-amigo-metrics, in that session, talks to it."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from .fake_api import FakeAmigoAPI


class FakeAmigoPlugin:
    """Registered with pytest: the plugin's Amigo calls (and the SDK's sign-in) reach the fake,
    with the fake's credentials in the environment for the session."""

    def __init__(self, fake: FakeAmigoAPI) -> None:
        self.fake = fake
        self.environ = fake.environ()  # change an entry to test a misconfiguration
        self._stack = contextlib.ExitStack()

    def pytest_configure(self, config: Any) -> None:
        self._stack.enter_context(_environ(self.environ))
        self._stack.enter_context(self.fake.serve_sdk())

    def pytest_unconfigure(self, config: Any) -> None:
        self._stack.close()

    def pytest_amigo_api_transport(self, config: Any) -> httpx.AsyncBaseTransport:
        return self.fake.transport


@contextlib.contextmanager
def _environ(values: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
