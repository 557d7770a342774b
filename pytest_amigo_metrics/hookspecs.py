"""Hooks pytest-amigo-metrics offers to conftest files and other plugins."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.hookspec(firstresult=True)
def pytest_amigo_api_transport(config: pytest.Config) -> Any:
    """Return an httpx async transport for every Amigo API call of the session (a proxy, a
    recorder, or `pytest_amigo_metrics.testing.FakeAmigoAPI().transport`); None for the network."""
