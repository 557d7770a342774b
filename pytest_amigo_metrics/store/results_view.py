"""The `results` command: the store's evaluation results, filtered and paged as the API's
GetMetricEvaluationResults does, with runs, metrics and tests named as a user knows them."""

from __future__ import annotations

import re
import textwrap
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..errors import printable
from ..ids import stable_id
from ..records import EvaluationResult, ResultsPage
from ..suite.metrics import format_value
from .database import Store
from .errors import StoreError
from .view import did_you_mean

_API_METRIC = re.compile(r"[0-9a-f]{24}-[0-9]*")  # the API's own `<metric_id>-<version>`
_UNIT_TEST_ID = re.compile(r"[0-9a-f]{24}")
TIME = "%Y-%m-%d %H:%M:%S"


@dataclass(frozen=True)
class ResultsQuery:
    """What the user asked for, as they named it."""

    runs: Sequence[str] = ()
    metrics: Sequence[str] = ()
    test: str | None = None
    after: str | None = None
    before: str | None = None
    newest_first: bool = False
    limit: int = 500
    continuation_token: int = 0


@dataclass
class ResultsView:
    """A page of results, with the names its ids stand for."""

    page: ResultsPage
    metric_names: dict[str, str] = field(default_factory=dict)
    test_nodeids: dict[str, str] = field(default_factory=dict)
    latest_run: str | None = None  # what `--run latest` stood for, when it was given
    limit: int = 500


def results(store: Store, query: ResultsQuery) -> ResultsView:
    """The page the query asks for; a name the store does not know, or a value the API would
    refuse (422), is a StoreError that says which and how to write it."""
    metric_names = store.metric_names_by_id()
    test_nodeids = store.test_nodeids()
    runs = {ref: store.session_run(ref)[0].id for ref in query.runs}
    test = query.test and unicodedata.normalize("NFC", query.test)
    try:
        page = store.evaluation_results(
            simulation_unit_test_set_run_id=list(runs.values()),
            metric_id_and_version=[
                _metric_and_version(store, m, metric_names) for m in query.metrics
            ],
            unit_test_id=_unit_test_id(store, test, test_nodeids) if test else None,
            timestamp_after=query.after,
            timestamp_before=query.before,
            sort_by="-created_at" if query.newest_first else "+created_at",
            limit=query.limit,
            continuation_token=query.continuation_token,
        )
    except ValueError as exc:
        raise StoreError(_as_options(str(exc))) from None
    return ResultsView(page, metric_names, test_nodeids, runs.get("latest"), query.limit)


# The API's names for what the command's options give.
_OPTIONS = {
    "timestamp_after": "--after",
    "timestamp_before": "--before",
    "continuation_token": "--continuation-token",
    "limit": "--limit",
}


def _as_options(problem: str) -> str:
    """The query's refusal, naming the option the user gave rather than the API's parameter."""
    name, _, rest = problem.partition(" ")
    return f"{_OPTIONS[name]} {rest}" if name in _OPTIONS else problem


def _metric_and_version(store: Store, given: str, names: dict[str, str]) -> str:
    """`NAME`, `NAME@VERSION`, `NAME@latest` or the API's `<metric_id>-<version>`, as the
    API's filter."""
    if _API_METRIC.fullmatch(given):
        if given.partition("-")[0] not in names:
            raise StoreError(f"{store.path} holds no metric with id {given.partition('-')[0]}")
        return given
    given = unicodedata.normalize("NFC", given)
    name, version = given, ""
    if store.metric(given) is None and "@" in given:  # a name may hold an @ itself
        name, _, version = given.rpartition("@")
    record = store.metric(name)
    if record is None:
        hint = did_you_mean(name, store.metric_names())
        raise StoreError(f"{store.path} holds no metric {name!r}{hint}")
    if version == "latest":
        version = str(record.latest_version)
    if version and not (version.isascii() and version.isdigit()):
        raise StoreError(
            f"--metric {given!r}: write NAME, NAME@VERSION or NAME@latest, e.g. {name}@2"
        )
    if version and not 1 <= int(version) <= record.latest_version:
        raise StoreError(
            f"--metric {given!r}: {name!r} has versions 1 to {record.latest_version} "
            f"(`metrics {name!r}` lists them)"
        )
    return f"{record.id}-{int(version) if version else ''}"


def _unit_test_id(store: Store, given: str, nodeids: dict[str, str]) -> str:
    """A test's node id as pytest prints it (`path::name`), or its unit test id."""
    if _UNIT_TEST_ID.fullmatch(given):
        if not store.has_results_of_test(given):
            raise StoreError(f"{store.path} holds no results of a test with id {given}")
        return given
    found = stable_id("unit_test", given)
    if found in nodeids:
        return found
    hint = did_you_mean(given, list(nodeids.values()))
    raise StoreError(f"{store.path} holds no test {given!r}{hint}")


class NamedResultsPage(ResultsPage):
    """The API's page, plus the names of the metrics and tests its results belong to."""

    metric_names: dict[str, str]
    test_nodeids: dict[str, str]


def results_json(view: ResultsView) -> str:
    page = view.page
    results = page.metric_evaluation_results
    metric_ids = {r.metric_id for r in results}
    metric_ids.update(page.filter_values.metric_ids if page.filter_values else [])
    test_ids = {r.source.unit_test_id for r in results}
    named = NamedResultsPage(
        **dict(page),
        metric_names={k: v for k, v in view.metric_names.items() if k in metric_ids},
        test_nodeids={k: v for k, v in view.test_nodeids.items() if k in test_ids},
    )
    return named.model_dump_json(indent=2)


HEAD = f"{'CREATED (UTC)':19}  {'RUN ID':24}  RUN  {'METRIC':28}  {'VALUE':12}  TEST"


def result_lines(view: ResultsView, *, justifications: bool = False) -> list[str]:
    """A line per result: when (to the second); which session run, and which run of the test
    (from 0, as the summary numbers them); the metric and its version; the value; the test.
    With `justifications`, the judge's reasons and the messages it cited below each."""
    page = view.page
    results = page.metric_evaluation_results
    if not results:
        return ["--limit 0: no results shown" if view.limit == 0 else "no evaluation results match"]
    lines = [HEAD]
    for result in results:
        lines.append(_line(view, result))
        if justifications:
            lines.append(textwrap.indent(printable(result.justification), "    "))
            if result.source.references:
                cited = printable(", ".join(result.source.references))
                lines.append(f"    cites messages: {cited}")
    if page.has_more:
        latest = f" (--run latest: {view.latest_run})" if view.latest_run else ""
        lines.append(f"more results: --continuation-token {page.continuation_token}{latest}")
    return lines


def _line(view: ResultsView, result: EvaluationResult) -> str:
    source = result.source
    metric = view.metric_names.get(result.metric_id, result.metric_id)
    metric = printable(f"{metric} v{result.metric_version}")
    test = printable(view.test_nodeids.get(source.unit_test_id, source.unit_test_id))
    value = printable(format_value(result.result))
    return (
        f"{result.created_at:{TIME}}  {source.simulation_unit_test_set_run_id:24}  "
        f"{source.run_index:3}  {metric:28}  {value:12}  {test}"
    )
