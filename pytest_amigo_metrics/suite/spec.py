"""Pydantic models of the YAML suite files: the users' contract.

Names follow the Amigo API (metric_value, applied_to_services, additional_notes, tags).
Expectations are kept raw here; they are checked against the metric they name once every
file of the session is loaded (see expectations.py).
"""

from __future__ import annotations

import re
import unicodedata
import urllib.parse
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Strict,
    StringConstraints,
    Tag,
    field_validator,
    model_validator,
)

from ..redact import redact

# YAML numbers as written: `true` is not a count, and NaN or infinity is not a bound.
Count = Annotated[int, Strict()]
Number = Annotated[float, Strict(), Field(allow_inf_nan=False)]
NonEmptyStr = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


def _one_line(name: str) -> str:
    """A name as one writes and reads it: one line, one spelling of each accented letter."""
    if any(unicodedata.category(c) == "Cc" for c in name):
        raise ValueError(
            f"{name!r} holds a control character (a newline, tab or NUL, e.g. from a YAML escape)"
        )
    return unicodedata.normalize("NFC", name)


def _selectable(name: str) -> str:
    if "::" in name:
        raise ValueError(
            f"{name!r} holds '::', which separates the parts of a pytest node id: "
            "`pytest 'file.amigo.yaml::name'` could not select it"
        )
    return name


Name = Annotated[NonEmptyStr, AfterValidator(_one_line)]
TestName = Annotated[Name, AfterValidator(_selectable)]
# A model server's base URL: http(s), a host, no spaces (api_base_problem checks the host).
BaseURL = Annotated[
    str, StringConstraints(strip_whitespace=True, pattern=r"^[Hh][Tt][Tt][Pp][Ss]?://[^\s/]+\S*$")
]
TagStr = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, pattern=r"^[\w\s]+$")
]
ObjectId = Annotated[str, StringConstraints(pattern=r"^[a-f0-9]{24}$")]
PythonRef = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_][\w]*(\.[A-Za-z_]\w*)*$"
    ),
]


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BooleanMetricValue(StrictModel):
    type: Literal["boolean"]


class NumericalMetricValue(StrictModel):
    type: Literal["numerical"]
    lower_bound: Number
    upper_bound: Number

    @model_validator(mode="after")
    def _bounds_ordered(self) -> NumericalMetricValue:
        if self.lower_bound >= self.upper_bound:
            raise ValueError(
                f"lower_bound ({self.lower_bound:g}) must be below upper_bound "
                f"({self.upper_bound:g})"
            )
        return self


class CategoricalMetricValue(StrictModel):
    type: Literal["categorical"]
    categories: list[NonEmptyStr] = Field(min_length=1, max_length=50)

    @model_validator(mode="after")
    def _categories_unique(self) -> CategoricalMetricValue:
        seen: set[str] = set()
        for category in self.categories:
            if category in seen:
                raise ValueError(f"category {category!r} is listed twice")
            seen.add(category)
        return self


MetricValue = Annotated[
    BooleanMetricValue | NumericalMetricValue | CategoricalMetricValue,
    Field(discriminator="type"),
]
METRIC_VALUE_TYPES = ("boolean", "numerical", "categorical")


class MetricSpec(StrictModel):
    name: Name
    description: NonEmptyStr
    metric_value: MetricValue
    applied_to_services: list[ObjectId] = Field(default_factory=list)
    additional_notes: NonEmptyStr | None = None
    tags: dict[TagStr, TagStr | None] = Field(default_factory=dict, max_length=20)


class Persona(StrictModel):
    name: NonEmptyStr
    background: NonEmptyStr


class Scenario(StrictModel):
    name: NonEmptyStr
    objective: NonEmptyStr
    instructions: NonEmptyStr


_SECRET_HEADER = re.compile(r"(?i)(authorization|key|token|secret|password|cookie)")


def api_base_problem(url: str) -> str | None:
    """Why `url` cannot be a model server's base URL (None when it can)."""
    try:
        parts = urllib.parse.urlsplit(url)
        usable = parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:  # e.g. an IPv6 host without its closing bracket
        usable = False
    if usable and (parts.username or parts.password):
        shown = parts._replace(netloc="***@" + parts.netloc.rpartition("@")[2]).geturl()
        return (
            f"{shown!r} holds credentials (`user:password@`): they never go in a suite "
            "file or an option, and litellm's HTTP client refuses them beside its own "
            "Authorization header; remove them and set the provider's key in the environment "
            "(e.g. OPENAI_API_KEY), where litellm reads it"
        )
    if usable and not any(c.isspace() for c in url):
        return None
    return (
        f"{redact(url)!r} is not a server's base URL: write it with its scheme and host and no "
        "spaces, e.g. 'http://127.0.0.1:8000/v1' or 'https://my-resource.openai.azure.com'"
    )


class Connection(StrictModel):
    """Where litellm reaches a model besides its model string. Never keys: those stay in the
    environment, where the provider's usual variable (OPENAI_API_KEY, ...) is read."""

    api_base: BaseURL | None = None
    api_version: NonEmptyStr | None = None
    extra_headers: dict[NonEmptyStr, str] = Field(default_factory=dict)

    @field_validator("api_base")
    @classmethod
    def _a_url(cls, url: str | None) -> str | None:
        problem = api_base_problem(url) if url is not None else None
        if problem:
            raise ValueError(problem)
        return url

    @field_validator("extra_headers")
    @classmethod
    def _no_secret_headers(cls, headers: dict[str, str]) -> dict[str, str]:
        secret = [name for name in headers if _SECRET_HEADER.search(name)]
        if secret:
            raise ValueError(
                f"header {secret[0]!r} carries a credential, and credentials never go in a suite "
                "file"
            )
        return headers


class ModelRef(Connection):
    """A role's model as a mapping: `{model: openai/gpt-4o-mini, api_base: ...}`."""

    model: NonEmptyStr


# Union members are tagged so that a mapping is checked as a mapping only (its errors are
# the mapping's), and a string as a string.
UNION_TAGS = ("model string", "model mapping")
ModelChoice = Annotated[
    Annotated[NonEmptyStr, Tag(UNION_TAGS[0])] | Annotated[ModelRef, Tag(UNION_TAGS[1])],
    Discriminator(lambda value: UNION_TAGS[isinstance(value, dict | ModelRef)]),
]


def as_model_ref(choice: ModelChoice | None) -> ModelRef | None:
    return ModelRef(model=choice) if isinstance(choice, str) else choice


class AmigoTargetSpec(StrictModel):
    """A service on the Amigo API (credentials come from the environment, never from YAML)."""

    service_id: ObjectId
    version_set: NonEmptyStr = "release"


class TargetSpec(Connection):
    """The agent under test: exactly one of `python`, `model` or `amigo`; a `model` target may
    say where to reach it (api_base, api_version, extra_headers)."""

    python: PythonRef | None = None
    model: NonEmptyStr | None = None
    system_prompt: NonEmptyStr | None = None
    amigo: AmigoTargetSpec | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> TargetSpec:
        kinds = [k for k in ("python", "model", "amigo") if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError(
                "a target names exactly one agent: {python: 'module:function'}, "
                "{model: '<litellm model>', system_prompt: ...} "
                "or {amigo: {service_id: '<24 hex>', version_set: release}}"
            )
        if self.system_prompt is not None and self.model is None:
            raise ValueError("system_prompt goes with a `model` target only")
        if self.model is None and (self.api_base or self.api_version or self.extra_headers):
            raise ValueError("api_base, api_version and extra_headers go with a `model` target")
        return self

    def model_ref(self) -> ModelRef | None:
        if self.model is None:
            return None
        return ModelRef(
            model=self.model,
            api_base=self.api_base,
            api_version=self.api_version,
            extra_headers=self.extra_headers,
        )

    def describe(self) -> str:
        if self.amigo is not None:
            return f"amigo:{self.amigo.service_id}@{self.amigo.version_set}"
        return f"python:{self.python}" if self.python else f"model:{self.model}"


class ModelsSpec(StrictModel):
    """Per-role litellm models, each a model string or a mapping with its connection settings
    (the agent's model is the target's `model`)."""

    simulator: ModelChoice | None = None
    judge: ModelChoice | None = None


class ExpectationSpec(StrictModel):
    metric: Name
    expect: Any
    allow_not_applicable: bool = False
    # Judge the conversation only up to the agent's reply to the n-th user message.
    up_to_turn: Count | None = Field(default=None, ge=1, le=100)

    @model_validator(mode="before")
    @classmethod
    def _expect_present(cls, data: Any) -> Any:
        # With an unknown key (`expected:`), that key is the problem, with its "did you mean".
        if isinstance(data, dict) and "expect" not in data and set(data) <= set(cls.model_fields):
            raise ValueError("`expect` is required: what the metric must show")
        return data


# Times the judge evaluates one metric of one run (answers combined; see judge_samples.py).
MAX_JUDGE_SAMPLES = 25
MAX_RUNS = 100


class DefaultsSpec(StrictModel):
    target: TargetSpec | None = None
    max_turns: Count | None = Field(default=None, ge=1, le=100)
    runs: Count | None = Field(default=None, ge=1, le=MAX_RUNS)
    min_pass_rate: Number | None = Field(default=None, ge=0.0, le=1.0)
    models: ModelsSpec | None = None
    judge_samples: Count | None = Field(default=None, ge=1, le=MAX_JUDGE_SAMPLES)


class SimulationUnitTestSpec(StrictModel):
    name: TestName
    persona: Persona
    scenario: Scenario
    script: list[NonEmptyStr] | None = Field(default=None, min_length=1)
    target: TargetSpec | None = None
    max_turns: Count | None = Field(default=None, ge=1, le=100)
    runs: Count | None = Field(default=None, ge=1, le=MAX_RUNS)
    min_pass_rate: Number | None = Field(default=None, ge=0.0, le=1.0)
    models: ModelsSpec | None = None
    metrics: list[ExpectationSpec] = Field(min_length=1)
    judge_samples: Count | None = Field(default=None, ge=1, le=MAX_JUDGE_SAMPLES)


class SuiteFile(StrictModel):
    defaults: DefaultsSpec | None = None
    metrics: list[MetricSpec] = Field(default_factory=list)
    simulation_unit_tests: list[SimulationUnitTestSpec] = Field(default_factory=list)


DEFAULT_MAX_TURNS = 10
DEFAULT_RUNS = 1
DEFAULT_MIN_PASS_RATE = 1.0


class Declaration(BaseModel):
    """Where a setting a test uses is declared: the test's own or the file's `defaults:`,
    by line and field path (for errors found after loading: an import, a model)."""

    model_config = ConfigDict(frozen=True)

    line: int
    field: str


class UnitTest(BaseModel):
    """A simulation unit test with the file's defaults applied."""

    model_config = ConfigDict(frozen=True)

    name: str
    persona: Persona
    scenario: Scenario
    script: list[str] | None
    target: TargetSpec
    max_turns: int
    runs: int
    min_pass_rate: float
    models: ModelsSpec
    metrics: list[ExpectationSpec]
    line: int
    expect_lines: list[int]
    target_declared: Declaration = Declaration(line=0, field="target")
    # Where each role's model is declared: simulator, judge, and agent (its target's model).
    models_declared: dict[str, Declaration] = Field(default_factory=dict)
    judge_samples: int = 1


def merge_models(base: ModelsSpec | None, override: ModelsSpec | None) -> ModelsSpec:
    """The test's models over the file's defaults, role by role."""
    return ModelsSpec(
        simulator=first_set(override and override.simulator, base and base.simulator),
        judge=first_set(override and override.judge, base and base.judge),
    )


def first_set(*values: Any) -> Any:
    return next((v for v in values if v is not None), None)
