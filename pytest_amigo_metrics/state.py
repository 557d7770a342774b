"""Where the plugin's session object lives: on the pytest config's stash."""

from __future__ import annotations

import pytest

from .session import AmigoSession

SESSION_KEY = pytest.StashKey[AmigoSession]()


def get_session(config: pytest.Config) -> AmigoSession:
    return config.stash[SESSION_KEY]
