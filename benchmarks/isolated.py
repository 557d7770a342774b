"""How the benchmarks start pytest: only this plugin (and xdist when asked), so that other
pytest plugins installed in the environment (hypothesis, from the dev extra, adds about a
second at the first item) do not count in the figures."""

from __future__ import annotations

import os
import sys

PLUGINS = ["-p", "pytest_amigo_metrics.plugin", "-p", "no:cacheprovider"]
XDIST = ["-p", "xdist.plugin"]


def pytest_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "pytest", *PLUGINS, *args]


def environment(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", **extra}
