"""What the results store refuses, and what it cannot find."""

from __future__ import annotations


class StoreError(Exception):
    """The store file cannot be used as it is; it is left untouched."""


class MetricTypeChanged(Exception):
    def __init__(self, name: str, stored: str, declared: str) -> None:
        super().__init__(f"metric {name!r} is stored as {stored}, declared as {declared}")
        self.stored = stored
        self.declared = declared


class RunNotFound(LookupError):
    """No recorded run has this id (or no run at all for `latest`)."""
