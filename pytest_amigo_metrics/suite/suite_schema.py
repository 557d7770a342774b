"""The JSON Schema of a YAML suite file, for editors: built from the pydantic spec models.

The models in spec.py are the contract; this module only adds what pydantic cannot say:
descriptions of the fields, the forms `expect` takes, and that a target names one agent.
Everything is added where the model's schema has it (a field that is gone is skipped), so the
schema follows the models. The same text ships as `suite.schema.json` in the package; the
tests check that the shipped file is current (`python -m pytest_amigo_metrics schema`).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from .spec import SuiteFile

JSONSchema = dict[str, Any]

DIALECT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_ID = "urn:pytest-amigo-metrics:suite-file"
SCHEMA_FILE = "suite.schema.json"
TITLE = "pytest-amigo-metrics suite file"
DESCRIPTION = (
    "A YAML suite file of pytest-amigo-metrics (*.amigo.yaml, or the ini option "
    "amigo_file_pattern): `metrics:` (LLM-judged criteria, shared by every file of a pytest "
    "session), `simulation_unit_tests:` (each one a pytest item) and `defaults:` for the tests "
    "of this file. `python -m pytest_amigo_metrics validate` checks what a schema cannot: "
    "metric names, expectations against the metric's type, targets and defaults."
)

# Model (its $defs name; "" is the suite file itself) -> its description.
MODEL_DESCRIPTIONS: dict[str, str] = {
    "": DESCRIPTION,
    "MetricSpec": (
        "A metric: a named, versioned criterion a judge evaluates on each conversation. "
        "Changing `description` or `metric_value` stores a new version."
    ),
    "BooleanMetricValue": "The judge answers true or false.",
    "NumericalMetricValue": "The judge answers a number from lower_bound to upper_bound.",
    "CategoricalMetricValue": "The judge answers one of the categories.",
    "SimulationUnitTestSpec": (
        "A simulation unit test (one pytest item): a simulated user with a persona and a "
        "scenario talks to the agent under test; a judge evaluates the metrics of each run."
    ),
    "Persona": "Who the simulated user is.",
    "Scenario": "What the simulated user wants and how to behave.",
    "ExpectationSpec": "What a metric must show in every run of the test.",
    "DefaultsSpec": "Values for every test of this file; a test's own keys win.",
}

# Model ($defs name; "" is the suite file; "*" any model) -> field -> description.
FIELD_DESCRIPTIONS: dict[str, dict[str, str]] = {
    "": {
        "defaults": (
            "target, max_turns, runs, min_pass_rate, models and judge_samples for every test of "
            "this file"
        ),
        "metrics": (
            "Metrics declared here, usable from any suite file of the session; declare each "
            "metric once"
        ),
        "simulation_unit_tests": "Simulation unit tests: each one is a pytest item",
    },
    "MetricSpec": {
        "name": "Unique in the session; never changes (tests refer to the metric by name)",
        "description": "What the judge evaluates. Changing it stores a new version of the metric",
        "metric_value": (
            "The value type: {type: boolean}, {type: numerical, lower_bound, upper_bound} or "
            "{type: categorical, categories: [...]}. A metric's type never changes"
        ),
        "applied_to_services": "Amigo service ids (24 lowercase hex characters)",
        "additional_notes": "Notes for the judge; updated in place (no new version)",
        "tags": (
            "At most 20; keys and values hold letters, digits, '_' and spaces; a value may be null"
        ),
    },
    "NumericalMetricValue": {
        "lower_bound": "The lowest value; below upper_bound",
        "upper_bound": "The highest value; above lower_bound",
    },
    "CategoricalMetricValue": {"categories": "1 to 50 distinct, non-empty categories"},
    "SimulationUnitTestSpec": {
        "name": "The pytest item's name (works with -k); unique in the file",
        "persona": "Who the simulated user is",
        "scenario": "What the simulated user wants",
        "script": (
            "Fixed user turns, sent verbatim; the conversation ends when they run out. "
            "Without a script the simulator model plays the persona"
        ),
        "target": "The agent under test (or the file's defaults.target)",
        "max_turns": "Interactions (a user message and the reply); default 10, at most 100",
        "runs": "Conversations to simulate; default 1",
        "min_pass_rate": "Share of runs that must meet every expectation; default 1.0",
        "models": "litellm models for this test's roles",
        "metrics": "The expectations: what each metric must show",
        "judge_samples": (
            "Times the judge evaluates each metric of a run, answers combined (majority, or "
            "the median for numerical metrics); default 1, at most 25"
        ),
    },
    "Persona": {
        "name": "The simulated user's name",
        "background": "Who they are, in a sentence or two",
    },
    "Scenario": {
        "name": "A short name for the scenario",
        "objective": "What the simulated user wants to achieve",
        "instructions": "How the simulated user behaves",
    },
    "ExpectationSpec": {
        "metric": "The name of a metric declared in any suite file of the session",
        "expect": (
            "What the metric must show. numerical: '>= 7', '> 6.5', '< 3', '<= 3', '== 5', "
            "'!= 5', 'between 4 and 6', {verb: '>=', threshold: 7} or {between: [4, 6]}, with "
            "thresholds within the bounds; categorical: one category or a list of allowed "
            "ones; boolean: true or false"
        ),
        "allow_not_applicable": (
            "Whether a judge's null (the metric does not apply) meets the expectation"
        ),
        "up_to_turn": (
            "Judge only the start of the conversation: up to the agent's reply to this user message"
        ),
    },
    "TargetSpec": {
        "python": "A Python callable 'package.module:function' taking the messages so far",
        "model": "A litellm model string, e.g. openai/gpt-4o-mini",
        "system_prompt": "The system prompt of a `model` target",
        "amigo": "A service on the Amigo API (credentials come from the environment)",
    },
    "AmigoTargetSpec": {
        "service_id": "The service's id: 24 lowercase hex characters, quoted",
        "version_set": "The service's version set; default release",
    },
    "ModelsSpec": {
        "simulator": (
            "The simulated user's model: a litellm model string, or {model, api_base, "
            "api_version, extra_headers}"
        ),
        "judge": (
            "The judge's model: a litellm model string, or {model, api_base, api_version, "
            "extra_headers}"
        ),
    },
    "ModelRef": {"model": "A litellm model string, e.g. openai/gpt-4o-mini"},
    "DefaultsSpec": {
        "target": "The agent under test of every test of this file",
        "max_turns": "Interactions per conversation; default 10",
        "runs": "Conversations per test; default 1",
        "min_pass_rate": "Share of runs that must pass; default 1.0",
        "models": "litellm models for the roles",
        "judge_samples": "Judge evaluations per metric and run, combined; default 1",
    },
    # Any model with these fields; last, so that the entries above win.
    "*": {
        "api_base": "Where litellm sends the calls (a proxy, a local server, an Azure endpoint)",
        "api_version": "The provider's API version, where it needs one (e.g. Azure OpenAI)",
        "extra_headers": (
            "HTTP headers sent with every call; never credentials (keys stay in the "
            "environment, e.g. OPENAI_API_KEY)"
        ),
    },
}

NUMBER = r"-?\d+(\.\d+)?"
EXPECT_FORMS: list[JSONSchema] = [
    {
        "description": "boolean metric: the value the judge must give",
        "type": "boolean",
    },
    {
        "description": "numerical metric: a comparison with a threshold within the bounds",
        "type": "string",
        "pattern": rf"^\s*(==|!=|<=|>=|<|>)\s*{NUMBER}\s*$",
        "examples": [">= 7", "> 6.5", "< 3", "== 5", "!= 5"],
    },
    {
        "description": "numerical metric: an inclusive range within the bounds",
        "type": "string",
        "pattern": rf"^\s*[Bb][Ee][Tt][Ww][Ee][Ee][Nn]\s+{NUMBER}\s+[Aa][Nn][Dd]\s+{NUMBER}\s*$",
        "examples": ["between 4 and 6"],
    },
    {
        "description": "categorical metric: the one category allowed",
        "type": "string",
        "minLength": 1,
    },
    {
        "description": "categorical metric: the categories allowed",
        "type": "array",
        "items": {"type": "string", "minLength": 1},
        "minItems": 1,
    },
    {
        "description": "numerical metric: a comparison, structured",
        "type": "object",
        "properties": {
            "verb": {"enum": ["==", "!=", "<=", ">=", "<", ">"]},
            "threshold": {"type": "number"},
        },
        "required": ["verb", "threshold"],
        "additionalProperties": False,
    },
    {
        "description": "numerical metric: an inclusive range [low, high], structured",
        "type": "object",
        "properties": {
            "between": {
                "type": "array",
                "items": {"type": "number"},
                "minItems": 2,
                "maxItems": 2,
            }
        },
        "required": ["between"],
        "additionalProperties": False,
    },
]
# Keywords that say what a value may be: a field without any is unconstrained (Any).
TYPE_KEYWORDS = frozenset({"type", "anyOf", "oneOf", "allOf", "$ref", "enum", "const"})
TARGET_KINDS = ("python", "model", "amigo")
# Fields of a target that go with a `model` target only.
MODEL_TARGET_FIELDS = ("system_prompt", "api_base", "api_version", "extra_headers")


def suite_schema() -> JSONSchema:
    """The JSON Schema (draft 2020-12) of a suite file."""
    schema = SuiteFile.model_json_schema()
    _expect_forms(schema)
    _one_agent_per_target(schema)
    _describe(schema)
    schema["type"] = ["object", "null"]  # an empty file (or only comments) is a valid suite
    schema["patternProperties"] = {"^x-": {"description": "Anything: a place for YAML anchors"}}
    schema.pop("title", None)
    head = {"$schema": DIALECT, "$id": SCHEMA_ID, "title": TITLE}
    head["description"] = schema.pop("description")
    return copy.deepcopy(head | schema)  # no constant of this module is shared with callers


def schema_text() -> str:
    """The schema as shipped in suite.schema.json (and printed by `schema`)."""
    return json.dumps(suite_schema(), indent=2) + "\n"


def shipped_schema_path() -> Path:
    return Path(__file__).with_name(SCHEMA_FILE)


def stale_descriptions(schema: JSONSchema) -> list[str]:
    """Entries of the description tables that name a model or field the schema lacks."""
    stale = [name for name in MODEL_DESCRIPTIONS if _model(schema, name) is None]
    for name, fields in FIELD_DESCRIPTIONS.items():
        present = {field for model in _models(schema, name) for field in _properties(model)}
        stale += [f"{name or 'SuiteFile'}.{field}" for field in fields if field not in present]
    return stale


def _model(schema: JSONSchema, name: str) -> JSONSchema | None:
    """A model's schema by its $defs name; "" is the root."""
    if not name:
        return schema
    found: JSONSchema | None = schema.get("$defs", {}).get(name)
    return found


def _models(schema: JSONSchema, name: str) -> list[JSONSchema]:
    """The models a description table entry is for ("*": every model)."""
    if name == "*":
        return [schema, *schema.get("$defs", {}).values()]
    model = _model(schema, name)
    return [] if model is None else [model]


def _properties(model: JSONSchema) -> dict[str, JSONSchema]:
    properties: dict[str, JSONSchema] = model.get("properties", {})
    return properties


def _describe(schema: JSONSchema) -> None:
    for name, text in MODEL_DESCRIPTIONS.items():
        model = _model(schema, name)
        if model is not None:
            model.setdefault("description", text)
    for name, fields in FIELD_DESCRIPTIONS.items():
        for model in _models(schema, name):
            properties = _properties(model)
            for field, text in fields.items():
                if field in properties:
                    properties[field].setdefault("description", text)


def _expect_forms(schema: JSONSchema) -> None:
    """`expect` is kept raw by the models (checked against the metric once it is known):
    describe its forms, unless the model already constrains it."""
    properties = (_model(schema, "ExpectationSpec") or {}).get("properties", {})
    expect = properties.get("expect")
    if expect is not None and not TYPE_KEYWORDS & set(expect):
        expect["anyOf"] = EXPECT_FORMS


def _one_agent_per_target(schema: JSONSchema) -> None:
    """A target names exactly one agent; the settings of a model target need a `model`."""
    target = _model(schema, "TargetSpec")
    properties = (target or {}).get("properties", {})
    kinds = [k for k in TARGET_KINDS if k in properties]
    if target is None or len(kinds) < 2:
        return
    target["oneOf"] = [{"required": [k], "properties": {k: _SET}} for k in kinds]
    if "model" not in properties:
        return
    target.setdefault("allOf", []).extend(
        {
            "if": {"required": [name], "properties": {name: _SET}},
            "then": {"required": ["model"], "properties": {"model": _SET}},
        }
        for name in MODEL_TARGET_FIELDS
        if name in properties
    )


# A value that counts as given: the loader treats null and an empty mapping as not given.
_SET: JSONSchema = {"not": {"enum": [None, {}]}}
