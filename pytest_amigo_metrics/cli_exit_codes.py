"""The exit codes of `python -m pytest_amigo_metrics`, pytest's where they mean the same."""

from __future__ import annotations

import pytest

EXIT_OK = 0
EXIT_PROBLEMS = 1
EXIT_INTERRUPTED = int(pytest.ExitCode.INTERRUPTED)
EXIT_INTERNAL_ERROR = int(pytest.ExitCode.INTERNAL_ERROR)
EXIT_USAGE = int(pytest.ExitCode.USAGE_ERROR)
