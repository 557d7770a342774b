"""The local results store (SQLite): metrics, their versions, evaluation results and
conversations, shaped as the Amigo API's; and the record of each session's run, from which any
past run's report is rebuilt."""

from .database import BUSY_TIMEOUT, Registration, Store
from .errors import MetricTypeChanged, RunNotFound, StoreError
from .file_format import SCHEMA_VERSION

__all__ = [
    "BUSY_TIMEOUT",
    "SCHEMA_VERSION",
    "MetricTypeChanged",
    "Registration",
    "RunNotFound",
    "Store",
    "StoreError",
]
