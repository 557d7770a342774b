"""The fake Amigo API as a pytest plugin: pytest-amigo-metrics, in that session, talks to it."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

import httpx
import pytest

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
        patch = self._stack.enter_context(pytest.MonkeyPatch.context())
        for name, value in self.environ.items():
            patch.setenv(name, value)
        self._stack.enter_context(self.fake.serve_sdk())

    def pytest_unconfigure(self, config: Any) -> None:
        self._stack.close()

    def pytest_amigo_api_transport(self, config: Any) -> httpx.AsyncBaseTransport:
        return self.fake.transport
