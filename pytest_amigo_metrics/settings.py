"""One resolved settings object. Precedence: command line > environment > ini > YAML."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import pytest

from .models.llm import ModelEndpoint, RetryPolicy
from .models.offline_models import OFFLINE_MODELS
from .models.recording import RECORD_MODES, RecordMode
from .suite.spec import MAX_JUDGE_SAMPLES, MAX_RUNS, ModelRef, api_base_problem

Role = Literal["simulator", "judge", "agent"]
DEFAULT_STORE = ".amigo-metrics/results.sqlite3"
DEFAULT_PATTERN = "*.amigo.yaml"


@dataclass(frozen=True)
class Option:
    """A setting reachable as --amigo-<name>, AMIGO_METRICS_<NAME> and ini amigo_<name>."""

    name: str
    help: str
    default: Any = None
    kind: type = str

    @property
    def flag(self) -> str:
        return "--amigo-" + self.name.replace("_", "-")

    @property
    def env(self) -> str:
        return "AMIGO_METRICS_" + self.name.upper()

    @property
    def ini(self) -> str:
        return "amigo_" + self.name


OPTIONS = [
    Option("simulator_model", "litellm model string for the simulated user"),
    Option("judge_model", "litellm model string for the judge"),
    Option("agent_model", "litellm model string for `model:` targets (overrides the YAML's)"),
    Option("simulator_api_base", "base URL of the simulator's model server (litellm api_base)"),
    Option("judge_api_base", "base URL of the judge's model server (litellm api_base)"),
    Option("agent_api_base", "base URL of a `model:` target's server (litellm api_base)"),
    Option("store", f"SQLite results file, relative to the rootdir (default {DEFAULT_STORE})"),
    Option(
        "store_timeout",
        "seconds to wait for another process's lock on the results store (default 30)",
        30.0,
        float,
    ),
    Option("judge_retries", "re-asks after an invalid judge answer (default 2)", 2, int),
    Option(
        "concurrency",
        "conversations in flight across the session (default 256; 1 runs them one by one)",
        256,
        int,
    ),
    Option(
        "model_concurrency",
        "calls in flight to one model, shared by every role and test using it (default 128)",
        128,
        int,
    ),
    Option(
        "model_rpm",
        "requests per minute to one model (default: no limit; 429s are retried)",
        None,
        float,
    ),
    Option(
        "call_timeout",
        "seconds one model call may take before it counts as failed and is retried "
        "(default 300; 0: no limit)",
        300.0,
        float,
    ),
    Option(
        "turn_timeout",
        "seconds the agent under test may take to reply to one user turn (default 300; 0: no "
        "limit)",
        300.0,
        float,
    ),
    Option(
        "conversation_timeout",
        "seconds one whole conversation may take (default 1800; 0: no limit)",
        1800.0,
        float,
    ),
    Option(
        "offline_latency",
        "seconds each call to the built-in offline provider takes (default 0; for benchmarks)",
        0.0,
        float,
    ),
    Option("retry_attempts", "attempts per model call on 429/5xx/timeouts (default 4)", 4, int),
    Option(
        "retry_base_delay",
        "first backoff delay in seconds, doubled per retry (default 1)",
        1.0,
        float,
    ),
    Option("backend", "where metrics and results live: local (SQLite) or amigo", "local"),
    Option(
        "judge", "who evaluates the metrics: local (the judge model) or amigo (the API)", "local"
    ),
    Option(
        "rate_window",
        "seconds over which the Amigo API's per-minute limits are counted (default 60)",
        60.0,
        float,
    ),
    Option("json", "write the session's report as JSON to this path (relative: current dir)"),
    Option("html", "write the session's report as HTML to this path (relative: current dir)"),
    Option(
        "baseline",
        "compare with a stored earlier run: `latest` or a run id (see `python -m "
        "pytest_amigo_metrics runs`)",
    ),
    Option(
        "runs",
        "runs of every simulation unit test, overriding the YAML's `runs` (min_pass_rate stays "
        "a rate)",
        None,
        int,
    ),
    Option(
        "judge_samples",
        "times the judge evaluates each metric of a run, overriding the YAML's "
        "`judge_samples` (answers combined by majority or median)",
        None,
        int,
    ),
    Option(
        "record_mode",
        "record and replay model and Amigo API calls: off (live, default), record, replay "
        "(only from recordings) or new (replay what is recorded, record the rest)",
        "off",
    ),
]
# Options that override a YAML count hold to the same bounds.
OVERRIDE_MAXIMA = {"runs": MAX_RUNS, "judge_samples": MAX_JUDGE_SAMPLES}
CHOICES = {"backend": ("local", "amigo"), "judge": ("local", "amigo")}
# Where the Amigo API is and who calls it: environment (the SDK's names) or ini, never YAML.
AMIGO_INI = {
    "amigo_organization_id": "Amigo organization id [env AMIGO_ORGANIZATION_ID]",
    "amigo_api_key_id": "Amigo API key id [env AMIGO_API_KEY_ID]; the key itself: env only",
    "amigo_user_id": "Amigo user id the API key belongs to [env AMIGO_USER_ID]",
    "amigo_base_url": "Amigo API base URL (default https://api.amigo.ai) [env AMIGO_BASE_URL]",
}
OFFLINE_FLAG = "--amigo-offline"
OFFLINE_ENV = "AMIGO_METRICS_OFFLINE"
FAIL_ON_REGRESSION_FLAG = "--amigo-fail-on-regression"
FAIL_ON_REGRESSION_ENV = "AMIGO_METRICS_FAIL_ON_REGRESSION"


KIND_NAMES = {int: "a whole number", float: "a number", str: "a text"}


def _lookup(config: pytest.Config, option: Option) -> Any:
    sources = (
        ("", lambda: config.getoption(option.name, default=None)),
        (f" (from environment variable {option.env})", lambda: os.environ.get(option.env) or None),
        (f" (from ini option {option.ini})", lambda: config.getini(option.ini) or None),
    )
    for source, read in sources:
        value = read()
        if value is None:
            continue
        try:
            return option.kind(value)
        except ValueError:
            raise pytest.UsageError(
                f"{option.flag}: {value!r}{source} is not "
                f"{KIND_NAMES.get(option.kind, option.kind.__name__)} ({option.help})"
            ) from None
    return option.default


@dataclass(frozen=True)
class Settings:
    simulator_model: str | None
    judge_model: str | None
    agent_model: str | None
    offline: bool
    store_path: Path
    file_patterns: list[str]
    judge_retries: int
    concurrency: int
    retry: RetryPolicy
    model_concurrency: int = 128
    model_rpm: float | None = None
    offline_latency: float = 0.0
    call_timeout: float = 300.0
    turn_timeout: float = 300.0
    conversation_timeout: float = 1800.0
    backend: str = "local"
    judge: str = "local"
    rate_window: float = 60.0
    api_bases: dict[str, str] = field(default_factory=dict)
    json_path: Path | None = None
    html_path: Path | None = None
    baseline: str | None = None
    fail_on_regression: bool = False
    store_timeout: float = 30.0
    runs: int | None = None  # --amigo-runs: every test's runs
    judge_samples: int | None = None  # --amigo-judge-samples: every test's judge samples
    record_mode: RecordMode = "off"

    def endpoint_for(self, role: Role, from_yaml: ModelRef | None) -> ModelEndpoint:
        """The model a role uses and where to reach it; with no model anywhere, the built-in
        offline provider. A model from the command line, environment or ini replaces the
        YAML's model with its connection settings; a role's api_base option applies to
        whichever model the role uses."""
        if self.offline:
            return ModelEndpoint(OFFLINE_MODELS[role])
        configured = self._option_model(role)
        if configured:
            endpoint = ModelEndpoint(configured)
        elif from_yaml is not None:
            endpoint = ModelEndpoint(
                from_yaml.model,
                from_yaml.api_base,
                from_yaml.api_version,
                tuple(sorted(from_yaml.extra_headers.items())),
            )
        else:
            return ModelEndpoint(OFFLINE_MODELS[role])
        api_base = self.api_bases.get(role)
        return replace(endpoint, api_base=api_base) if api_base else endpoint

    def model_from_option(self, role: Role) -> bool:
        """Whether the role's model comes from the command line, environment or ini."""
        return not self.offline and bool(self._option_model(role))

    def _option_model(self, role: Role) -> str | None:
        return {
            "simulator": self.simulator_model,
            "judge": self.judge_model,
            "agent": self.agent_model,
        }[role]


def _flag(config: pytest.Config, dest: str, env: str) -> bool:
    return bool(config.getoption(dest)) or os.environ.get(env, "") in ("1", "true", "yes")


def _report_path(config: pytest.Config, value: str | None, kind: str) -> Path | None:
    """Where --amigo-json / --amigo-html write: a file, never a folder (a trailing slash
    would otherwise make a file of the folder's name)."""
    if not value:
        return None
    path = config.invocation_params.dir / Path(value).expanduser()
    if value.endswith(("/", os.sep)) or path.is_dir():
        raise pytest.UsageError(
            f"--amigo-{kind} {value!r} is a folder: name the report's file, "
            f"e.g. --amigo-{kind} {Path(value) / ('amigo-report.' + kind)}"
        )
    return path


def resolve_settings(config: pytest.Config) -> Settings:
    values = {o.name: _lookup(config, o) for o in OPTIONS}
    offline = bool(config.getoption("amigo_offline")) or os.environ.get(OFFLINE_ENV, "") in (
        "1",
        "true",
        "yes",
    )
    for name, allowed in CHOICES.items():
        if values[name] not in allowed:
            raise pytest.UsageError(
                f"--amigo-{name} / AMIGO_METRICS_{name.upper()} / ini amigo_{name}: "
                f"{values[name]!r} is not one of {', '.join(allowed)}"
            )
    if values["judge"] == "amigo" and values["backend"] != "amigo":
        raise pytest.UsageError(
            "--amigo-judge amigo evaluates metrics kept in the Amigo organization: "
            "add --amigo-backend amigo (or AMIGO_METRICS_BACKEND=amigo)"
        )
    record_mode = _record_mode(values["record_mode"])
    store = Path(values["store"] or DEFAULT_STORE)
    for option in OPTIONS:
        value = values[option.name]
        if option.kind is float and value is not None and not (math.isfinite(value) and value >= 0):
            raise pytest.UsageError(
                f"{option.flag}: {value!r} is not allowed: give a number of 0 or more "
                f"({option.help})"
            )
    if values["model_rpm"] is not None and values["model_rpm"] <= 0:
        raise pytest.UsageError("--amigo-model-rpm must be above 0 (or unset: no limit)")
    for name in ("judge_retries", "concurrency", "retry_attempts", "model_concurrency"):
        minimum = 0 if name == "judge_retries" else 1
        if values[name] < minimum:
            raise pytest.UsageError(f"--amigo-{name.replace('_', '-')} must be at least {minimum}")
    for option in OPTIONS:
        value, most = values[option.name], OVERRIDE_MAXIMA.get(option.name)
        where = f"{option.flag} / {option.env} / ini {option.ini}"
        if most is not None and value is not None and not 1 <= value <= most:
            raise pytest.UsageError(
                f"{where}: {value} is not allowed: give a whole number from 1 to {most}, as in "
                f"the YAML ({option.help})"
            )
        problem = api_base_problem(value) if option.name.endswith("_api_base") and value else None
        if problem:
            raise pytest.UsageError(f"{where}: {problem}")
    return Settings(
        simulator_model=values["simulator_model"],
        judge_model=values["judge_model"],
        agent_model=values["agent_model"],
        offline=offline,
        store_path=store if store.is_absolute() else config.rootpath / store,
        store_timeout=values["store_timeout"],
        file_patterns=list(config.getini("amigo_file_pattern")) or [DEFAULT_PATTERN],
        judge_retries=values["judge_retries"],
        concurrency=values["concurrency"],
        model_concurrency=values["model_concurrency"],
        model_rpm=values["model_rpm"],
        offline_latency=values["offline_latency"],
        call_timeout=values["call_timeout"],
        turn_timeout=values["turn_timeout"],
        conversation_timeout=values["conversation_timeout"],
        retry=RetryPolicy(attempts=values["retry_attempts"], base_delay=values["retry_base_delay"]),
        backend=values["backend"],
        judge=values["judge"],
        rate_window=values["rate_window"],
        api_bases={
            role: values[f"{role}_api_base"]
            for role in ("simulator", "judge", "agent")
            if values[f"{role}_api_base"]
        },
        json_path=_report_path(config, values["json"], "json"),
        html_path=_report_path(config, values["html"], "html"),
        baseline=values["baseline"],
        fail_on_regression=_flag(config, "amigo_fail_on_regression", FAIL_ON_REGRESSION_ENV),
        runs=values["runs"],
        judge_samples=values["judge_samples"],
        record_mode=record_mode,
    )


def _record_mode(value: str) -> RecordMode:
    for mode in RECORD_MODES:
        if value.strip().lower() == mode:
            return mode
    raise pytest.UsageError(
        f"--amigo-record-mode / AMIGO_METRICS_RECORD_MODE / ini amigo_record_mode: {value!r} "
        f"is not one of {', '.join(RECORD_MODES)} (off: live calls; record: call and write "
        "the recordings; replay: only from recordings; new: replay what exists, record the rest)"
    )


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("amigo-metrics", "conversation-quality tests (pytest-amigo-metrics)")
    for option in OPTIONS:
        group.addoption(
            option.flag, dest=option.name, default=None, help=f"{option.help} [env {option.env}]"
        )
        parser.addini(option.ini, help=option.help, default=None)
    group.addoption(
        OFFLINE_FLAG,
        dest="amigo_offline",
        action="store_true",
        help=f"use the built-in offline provider for every role [env {OFFLINE_ENV}=1]",
    )
    group.addoption(
        FAIL_ON_REGRESSION_FLAG,
        dest="amigo_fail_on_regression",
        action="store_true",
        help="with --amigo-baseline: a test that regressed fails the session (exit code 1) "
        f"[env {FAIL_ON_REGRESSION_ENV}=1]",
    )
    for name, help_text in AMIGO_INI.items():
        parser.addini(name, help=help_text, default=None)
    parser.addini(
        "amigo_file_pattern",
        type="args",
        default=[DEFAULT_PATTERN],
        help=f"glob(s) of YAML suite file names to collect (default {DEFAULT_PATTERN})",
    )
