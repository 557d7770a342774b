"""Load one suite file into validated specs, or raise SpecError with file:line problems."""

from __future__ import annotations

import difflib
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from ..errors import SpecError, SpecProblem, bounded_repr
from .spec import (
    DEFAULT_MAX_TURNS,
    DEFAULT_MIN_PASS_RATE,
    DEFAULT_RUNS,
    Declaration,
    MetricSpec,
    SimulationUnitTestSpec,
    SuiteFile,
    UnitTest,
    first_set,
    merge_models,
)
from .validation_errors import problem_of
from .yaml_lines import MAX_VALUES, LineDict, expanded_size, line_of, load_with_lines


@dataclass(frozen=True)
class LocatedMetric:
    spec: MetricSpec
    path: Path
    line: int
    index: int = 0  # its place in the file's `metrics:` list

    def field(self, name: str) -> str:
        """The path of one of its fields, as errors name it: `metrics[1].name`."""
        return f"metrics[{self.index}].{name}"


@dataclass(frozen=True)
class LoadedSuite:
    path: Path
    metrics: list[LocatedMetric]
    tests: list[UnitTest]


def read_text(path: Path) -> str:
    """The file's text; SpecError when it is not UTF-8 text or cannot be read."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        problem = SpecProblem(path, 1, "", f"cannot read the file: {exc.strerror}", "")
        raise SpecError([problem], metric_names=None) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        bom = (
            " (it starts with a UTF-16 byte order mark)"
            if data[:2] in (b"\xff\xfe", b"\xfe\xff")
            else ""
        )
        problem = SpecProblem(
            path,
            line,
            "",
            f"the file is not UTF-8 text: byte 0x{data[exc.start]:02x} cannot be decoded{bom}",
            "save the file as UTF-8 (YAML suite files are UTF-8 text)",
        )
        raise SpecError([problem], metric_names=None) from None


def load_suite(path: Path) -> LoadedSuite:
    text = read_text(path)
    try:
        document = load_with_lines(text)
    except RecursionError:
        problem = SpecProblem(path, 1, "", "the YAML is nested too deeply to read", _DEEP_HINT)
        raise SpecError([problem], metric_names=None) from None
    except yaml.reader.ReaderError as exc:
        line = text[: exc.position].count("\n") + 1
        message = f"invalid YAML: character {exc.character!r} is not allowed in YAML text"
        hint = "remove it (control characters and NUL have no place in a suite file)"
        raise SpecError([SpecProblem(path, line, "", message, hint)], metric_names=None) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        lines = text.splitlines()
        tabbed = line <= len(lines) and "\t" in lines[line - 1]
        hint = _TAB_HINT if tabbed else _YAML_HINT
        message = f"invalid YAML: {exc.problem or exc}"
        alias = _undefined_alias(exc, lines)
        if alias is not None:
            message, hint = _alias_problem(alias, text)
        elif exc.context and exc.context_mark and exc.context_mark.line + 1 != line:
            # Where the construct that never ended began: an unclosed `{` or quote.
            message += f" ({exc.context} started at line {exc.context_mark.line + 1})"
        raise SpecError([SpecProblem(path, line, "", message, hint)], metric_names=None) from None
    except yaml.YAMLError as exc:
        raise SpecError(
            [SpecProblem(path, 1, "", f"invalid YAML: {exc}", _YAML_HINT)], metric_names=None
        ) from None
    if document is None:
        return LoadedSuite(path, [], [])
    if expanded_size(document) > MAX_VALUES:
        message = (
            f"the document holds more than {MAX_VALUES:,} values (each use of a YAML alias, "
            "`*anchor`, counted in full)"
        )
        raise SpecError([SpecProblem(path, 1, "", message, _LARGE_HINT)], metric_names=None)
    if not isinstance(document, LineDict):
        raise SpecError(
            [
                SpecProblem(
                    path,
                    getattr(document, "line", 1),
                    "",
                    "a suite file is a mapping",
                    "start with `metrics:` and/or `simulation_unit_tests:` at the top level",
                )
            ]
        )
    document = _without_extensions(document)
    try:
        suite = SuiteFile.model_validate(document)
    except ValidationError as exc:
        errors = _without_misspelled_missing(exc.errors())
        problems = [problem_of(path, document, err) for err in errors]
        problems += _raw_names_used_again(path, document).values()
        raise SpecError(sorted(problems, key=lambda p: p.line), _metric_names(document)) from None
    return _resolve_defaults(path, document, suite)


def _name_used_again(path: Path, index: int, line: int, name: str, first: int) -> SpecProblem:
    return SpecProblem(
        path,
        line,
        f"simulation_unit_tests[{index}].name",
        f"test name {bounded_repr(name)} is already used at line {first}",
        "give every simulation unit test in a file its own name",
    )


def _raw_names_used_again(path: Path, document: LineDict) -> dict[int, SpecProblem]:
    """Test names used twice, by the index of each test that repeats one, read from the raw
    document (names as the format normalises them): so they are reported with a file's field
    errors too, rather than one round later."""
    tests = document.get("simulation_unit_tests")
    if not isinstance(tests, list):
        return {}
    problems: dict[int, SpecProblem] = {}
    first_line: dict[str, int] = {}
    for index, test in enumerate(tests):
        name = test.get("name") if isinstance(test, dict) else None
        if not isinstance(name, str) or not name.strip():
            continue
        name = unicodedata.normalize("NFC", name.strip())
        line = line_of(document, ("simulation_unit_tests", index))
        if name in first_line:
            problems[index] = _name_used_again(path, index, line, name, first_line[name])
        else:
            first_line[name] = line
    return problems


def _without_misspelled_missing(errors: list[ErrorDetails]) -> list[ErrorDetails]:
    """`descripton: ...` makes two errors, an unknown key and a missing `description`: the
    unknown key's "did you mean" says it all, so the missing field is not reported too."""
    unknown = {
        (err["loc"][:-1], str(err["loc"][-1])) for err in errors if err["type"] == "extra_forbidden"
    }
    return [
        err
        for err in errors
        if err["type"] != "missing"
        or not any(
            parent == err["loc"][:-1] and difflib.get_close_matches(str(err["loc"][-1]), [key])
            for parent, key in unknown
        )
    ]


def _metric_names(document: LineDict) -> tuple[str, ...]:
    """The names a file tries to declare, read from the raw document."""
    metrics = document.get("metrics")
    if not isinstance(metrics, list):
        return ()
    names = (m.get("name") for m in metrics if isinstance(m, dict))
    return tuple(n.strip() for n in names if isinstance(n, str) and n.strip())


_DEEP_HINT = "write the suite out plainly: a suite file needs a few thousand values at most"
_LARGE_HINT = (
    "split the tests into several suite files (metrics declared in one are known in all), "
    "or nest aliases less"
)
EXTENSION_PREFIX = "x-"
_YAML_HINT = "check indentation and quoting near that line (quote strings such as '>= 7')"
_TAB_HINT = "YAML indents with spaces, never tabs: replace the tabs on that line with spaces"


def _undefined_alias(exc: yaml.MarkedYAMLError, lines: list[str]) -> str | None:
    """The name of the alias (`*name`) that no anchor defines: libyaml does not say it."""
    if not str(exc.problem or "").startswith("found undefined alias") or not exc.problem_mark:
        return None
    mark = exc.problem_mark
    if mark.line >= len(lines):
        return None
    found = re.match(r"\*([^\s,\[\]{}]+)", lines[mark.line][mark.column :])
    return found.group(1) if found else None


def _alias_problem(alias: str, text: str) -> tuple[str, str]:
    anchors = sorted(set(re.findall(r"(?:^|[\s\[{,:-])&([^\s,\[\]{}]+)", text)))
    close = difflib.get_close_matches(alias, anchors, n=1)
    hint = f"did you mean `*{close[0]}`? " if close else ""
    defined = ", ".join(f"&{a}" for a in anchors) if anchors else "none"
    return (
        f"invalid YAML: the alias `*{alias}` names no anchor",
        hint + "an alias `*name` repeats what an anchor `&name` marks earlier in the same "
        f"file; anchors in this file: {defined}",
    )


def _without_extensions(document: LineDict) -> LineDict:
    """The document without its top-level `x-...` keys: a place for YAML anchors (`x-personas:
    &sam {...}`) that no test is, as in docker-compose files."""
    kept = LineDict(
        (key, value)
        for key, value in document.items()
        if not (isinstance(key, str) and key.startswith(EXTENSION_PREFIX))
    )
    kept.line, kept.key_lines = document.line, document.key_lines
    return kept


def _resolve_defaults(path: Path, document: LineDict, suite: SuiteFile) -> LoadedSuite:
    problems: list[SpecProblem] = []
    defaults = suite.defaults
    metrics = [
        LocatedMetric(m, path, line_of(document, ("metrics", i)), i)
        for i, m in enumerate(suite.metrics)
    ]
    tests: list[UnitTest] = []
    used_again = _raw_names_used_again(path, document)
    for index, test in enumerate(suite.simulation_unit_tests):
        line = line_of(document, ("simulation_unit_tests", index))
        if index in used_again:
            problems.append(used_again[index])
            continue
        target = first_set(test.target, defaults.target if defaults else None)
        if target is None:
            problems.append(
                SpecProblem(
                    path,
                    line,
                    f"simulation_unit_tests[{index}].target",
                    "no agent under test",
                    "add `target: {python: 'module:function'}` or `target: {model: ...}` "
                    "to the test or to the file's `defaults:`",
                )
            )
            continue
        tests.append(
            UnitTest(
                name=test.name,
                persona=test.persona,
                scenario=test.scenario,
                script=test.script,
                target=target,
                max_turns=first_set(test.max_turns, defaults and defaults.max_turns)
                or DEFAULT_MAX_TURNS,
                runs=first_set(test.runs, defaults and defaults.runs) or DEFAULT_RUNS,
                min_pass_rate=first_set(
                    test.min_pass_rate, defaults and defaults.min_pass_rate, DEFAULT_MIN_PASS_RATE
                ),
                models=merge_models(defaults.models if defaults else None, test.models),
                metrics=test.metrics,
                line=line,
                target_declared=_target_declaration(document, index, test),
                models_declared=_model_declarations(document, index, test),
                expect_lines=[
                    line_of(document, ("simulation_unit_tests", index, "metrics", j))
                    for j in range(len(test.metrics))
                ],
                judge_samples=first_set(test.judge_samples, defaults and defaults.judge_samples, 1),
            )
        )
    if problems:
        raise SpecError(problems, tuple(m.spec.name for m in metrics))
    return LoadedSuite(path, metrics, tests)


def _test_field(test: SimulationUnitTestSpec) -> str:
    return f"simulation_unit_tests[{bounded_repr(test.name)}]"


def _target_declaration(
    document: LineDict, index: int, test: SimulationUnitTestSpec
) -> Declaration:
    """Where the test's target is declared: the test's `target:`, else the file's defaults."""
    if test.target is None:
        return Declaration(line=line_of(document, ("defaults", "target")), field="defaults.target")
    line = line_of(document, ("simulation_unit_tests", index, "target"))
    return Declaration(line=line, field=f"{_test_field(test)}.target")


def _model_declarations(
    document: LineDict, index: int, test: SimulationUnitTestSpec
) -> dict[str, Declaration]:
    """Where each role's model is declared: the test's `models:` (its target's `model:` for
    the agent), else the file's defaults."""
    found: dict[str, Declaration] = {}
    for role in ("simulator", "judge"):
        own = test.models is not None and getattr(test.models, role) is not None
        loc = (
            ("simulation_unit_tests", index, "models", role)
            if own
            else ("defaults", "models", role)
        )
        field = f"{_test_field(test)}.models.{role}" if own else f"defaults.models.{role}"
        found[role] = Declaration(line=line_of(document, loc), field=field)
    target = ("simulation_unit_tests", index, "target") if test.target else ("defaults", "target")
    field = f"{_test_field(test)}.target.model" if test.target else "defaults.target.model"
    found["agent"] = Declaration(line=line_of(document, (*target, "model")), field=field)
    return found
