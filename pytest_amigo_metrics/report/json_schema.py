"""The JSON Schema of the `--amigo-json` report, generated from SessionReport. The same text
ships as `report.schema.json` in the package; a test checks that it is current."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .model import SessionReport

DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_ID = "urn:pytest-amigo-metrics:session-report"
SCHEMA_FILE = "report.schema.json"
TITLE = "pytest-amigo-metrics session report"
DESCRIPTION = (
    "One pytest session (a simulation unit test set run) as written by --amigo-json or "
    "`python -m pytest_amigo_metrics report RUN --json FILE`: per test its runs, per run the "
    "transcript and the metric results (shaped like the Amigo API's "
    "MetricEvaluationResultInstance with a simulation source), the pass rate with its 95 % "
    "Wilson interval, models and usage, and the comparison with a baseline run."
)


def report_schema() -> dict[str, Any]:
    schema = SessionReport.model_json_schema(mode="serialization")
    schema.pop("title", None)
    head = {"$schema": DIALECT, "$id": SCHEMA_ID, "title": TITLE, "description": DESCRIPTION}
    return head | schema


def report_schema_text() -> str:
    return json.dumps(report_schema(), indent=2) + "\n"


def shipped_report_schema_path() -> Path:
    return Path(__file__).parent.parent / SCHEMA_FILE
