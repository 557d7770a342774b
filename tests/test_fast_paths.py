"""The shortcuts taken for speed keep behaviour: litellm's request setup on the session's loop,
the warm-up call, the import without garbage collection, the cached environment in redaction,
the zero cost the offline provider states."""

from __future__ import annotations

import asyncio
import concurrent.futures
import gc
import threading
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pydantic import BaseModel

from conftest import EMPATHY_AND_OUTCOME, METRICS, Suite
from pytest_amigo_metrics.models import llm, request_setup
from pytest_amigo_metrics.redact import redact
from pytest_amigo_metrics.runs.limits import Limits
from pytest_amigo_metrics.runs.scheduler import Scheduler
from pytest_amigo_metrics.runs.simulator import UserTurnSchema
from pytest_amigo_metrics.suite.spec import (
    BooleanMetricValue,
    CategoricalMetricValue,
    NumericalMetricValue,
)
from pytest_amigo_metrics.verdicts.judge import response_schema

# Some litellm releases warn on their own types when called directly (as here), also from their
# logging thread during the tests that follow: litellm's, not these tests'.
pytestmark = pytest.mark.filterwarnings("ignore:Pydantic serializer warnings:UserWarning")


class RecordingExecutor(request_setup.SessionExecutor):
    """The session's executor, noting for each submission whether it ran inline."""

    def __init__(self) -> None:
        super().__init__(max_workers=2)
        self.submitted: list[tuple[bool, int]] = []

    def submit(
        self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any
    ) -> concurrent.futures.Future[Any]:
        inline = not args and not kwargs and request_setup._is_litellm_request_setup(fn)
        self.submitted.append((inline, threading.get_ident()))
        return super().submit(fn, *args, **kwargs)


@pytest.fixture
def loop() -> Iterator[tuple[asyncio.AbstractEventLoop, RecordingExecutor]]:
    """The session's loop, as the scheduler makes it, with the executor recording."""
    scheduler = Scheduler(Limits(), threads=1)
    assert isinstance(scheduler.loop._default_executor, request_setup.SessionExecutor)  # type: ignore[attr-defined]
    executor = RecordingExecutor()
    scheduler.loop.set_default_executor(executor)
    yield scheduler.loop, executor
    scheduler.close()
    executor.shutdown()


async def ask_model(model: str, text: str = "hi", role: str = "judge") -> llm.Completion:
    """One call through the plugin's model path, with no retry."""
    return await llm.complete(
        llm.ModelEndpoint(model),
        [{"role": "user", "content": text}],
        role=role,
        retry=llm.RetryPolicy(attempts=1, base_delay=0),
    )


def call_offline_agent(event_loop: asyncio.AbstractEventLoop, text: str) -> llm.Completion:
    async def call() -> llm.Completion:
        reply = await ask_model("offline/agent", text, role="agent")
        await asyncio.sleep(0.05)  # litellm's success logging runs as its own task
        return reply

    return event_loop.run_until_complete(call())


def test_litellm_request_setup_runs_inline_and_other_work_in_threads(
    loop: tuple[asyncio.AbstractEventLoop, RecordingExecutor],
) -> None:
    event_loop, executor = loop
    reply = call_offline_agent(event_loop, "hello")
    assert "hello" in reply.text
    # litellm.acompletion hands its setup to the default executor once per call; if a
    # litellm release changes how, this fails (the call still works, in a thread).
    assert [inline for inline, _ in executor.submitted] == [True]

    async def elsewhere() -> int:
        return await asyncio.get_running_loop().run_in_executor(None, threading.get_ident)

    loop_thread = threading.get_ident()
    assert event_loop.run_until_complete(elsewhere()) != loop_thread
    assert executor.submitted[-1] == (False, loop_thread)


def test_an_error_in_litellm_request_setup_reaches_the_caller(
    loop: tuple[asyncio.AbstractEventLoop, RecordingExecutor],
) -> None:
    litellm = llm.load_litellm()
    from litellm.llms.custom_llm import CustomLLM

    class FailsInSetup(CustomLLM):  # type: ignore[misc]
        def acompletion(self, *args: Any, **kwargs: Any) -> Any:  # called by litellm's setup
            raise ValueError("the provider refused the request")

    providers = list(litellm.custom_provider_map)
    litellm.custom_provider_map = [
        *providers,
        {"provider": "perfsetup", "custom_handler": FailsInSetup()},
    ]

    async def call() -> None:
        await ask_model("perfsetup/model")

    event_loop, executor = loop
    try:
        with pytest.raises(llm.ModelCallError, match="the provider refused the request"):
            event_loop.run_until_complete(call())
    finally:
        litellm.custom_provider_map = providers
    assert [inline for inline, _ in executor.submitted] == [True]


@pytest.fixture
def recording_provider() -> Iterator[list[str]]:
    """`perforder/...` models: their provider notes when litellm's setup calls it ("setup
    <text>") and when the request goes out ("send <text>"), then answers the text."""
    litellm = llm.load_litellm()
    from litellm.llms.custom_llm import CustomLLM
    from litellm.types.utils import ModelResponse

    events: list[str] = []

    class Recording(CustomLLM):  # type: ignore[misc]
        def acompletion(self, model: str, messages: list[Any], *a: Any, **k: Any) -> Any:
            text = messages[-1]["content"]
            events.append(f"setup {text}")  # called by litellm's synchronous setup
            return self._send(model, text)

        async def _send(self, model: str, text: str) -> ModelResponse:
            events.append(f"send {text}")
            await asyncio.sleep(0.01)
            return ModelResponse(
                model=model,
                choices=[{"index": 0, "message": {"role": "assistant", "content": text}}],
            )

    providers = list(litellm.custom_provider_map)
    litellm.custom_provider_map = [
        *providers,
        {"provider": "perforder", "custom_handler": Recording()},
    ]
    yield events
    litellm.custom_provider_map = providers


async def ask(text: str) -> llm.Completion:
    return await ask_model("perforder/model", text, role="agent")


def test_each_call_sends_its_request_before_the_next_setup(
    loop: tuple[asyncio.AbstractEventLoop, RecordingExecutor], recording_provider: list[str]
) -> None:
    """When many conversations ask at once, the first request must not wait for every other
    call's setup: setups and sends interleave."""

    calls = [str(i) for i in range(2 * request_setup.SETUPS_PER_TURN + 1)]

    async def together() -> list[llm.Completion]:
        return list(await asyncio.gather(*(ask(text) for text in calls)))

    replies = loop[0].run_until_complete(together())
    assert [r.text for r in replies] == calls
    events = recording_provider
    assert sorted(events) == sorted(f"{what} {i}" for what in ("setup", "send") for i in calls)
    assert events.index("send 0") < events.index(f"setup {calls[-1]}")


def test_a_call_cancelled_before_its_setup_never_reaches_the_provider(
    loop: tuple[asyncio.AbstractEventLoop, RecordingExecutor], recording_provider: list[str]
) -> None:
    count = (
        2 * request_setup.SETUPS_PER_TURN + 1
    )  # the last setup waits for a later turn of the loop

    async def last_cancelled() -> list[Any]:
        calls = [asyncio.ensure_future(ask(str(i))) for i in range(count)]
        await asyncio.sleep(0)  # every call has handed its setup over; none has run
        calls[-1].cancel()
        return list(await asyncio.gather(*calls, return_exceptions=True))

    event_loop, executor = loop
    results = event_loop.run_until_complete(last_cancelled())
    assert [r.text for r in results[:-1]] == [str(i) for i in range(count - 1)]
    assert isinstance(results[-1], asyncio.CancelledError)
    assert len(executor.submitted) == count
    last = str(count - 1)
    assert f"setup {last}" not in recording_provider and f"send {last}" not in recording_provider


def test_a_call_cancelled_as_its_setup_runs_leaves_no_coroutine_unawaited(
    loop: tuple[asyncio.AbstractEventLoop, RecordingExecutor], recording_provider: list[str]
) -> None:
    """-x cancels every call in flight: one whose setup ran in the same turn of the loop made
    the provider's coroutine, which nobody awaits; it is closed, not left to warn "coroutine
    ... was never awaited" after pytest's summary."""

    async def first_cancelled() -> list[Any]:
        calls = [asyncio.ensure_future(ask(str(i))) for i in range(2)]
        await asyncio.sleep(0)  # both setups are queued on the loop; none has run
        calls[0].cancel()  # its setup runs next, before the executor hears of the cancel
        return list(await asyncio.gather(*calls, return_exceptions=True))

    event_loop, executor = loop
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        results = event_loop.run_until_complete(first_cancelled())
        assert isinstance(results[0], asyncio.CancelledError)
        assert results[1].text == "1"
        assert "setup 0" in recording_provider, "the cancelled call's setup ran"
        assert "send 0" not in recording_provider
        executor.shutdown()  # as the loop's close does
        gc.collect()
    unawaited = [str(w.message) for w in caught if "never awaited" in str(w.message)]
    assert not unawaited


def test_the_warm_up_call_is_not_seen_by_litellm_callbacks(
    loop: tuple[asyncio.AbstractEventLoop, RecordingExecutor],
) -> None:
    litellm = llm.load_litellm()
    from litellm.integrations.custom_logger import CustomLogger

    seen: list[str] = []

    class Recorder(CustomLogger):  # type: ignore[misc]
        async def async_log_success_event(
            self, kwargs: dict[str, Any], response_obj: Any, start_time: Any, end_time: Any
        ) -> None:
            seen.append(kwargs["messages"][-1]["content"])

    recorder = Recorder()
    litellm.callbacks.append(recorder)
    try:
        llm._warm_up(litellm)
        call_offline_agent(loop[0], "a real call")
    finally:
        litellm.callbacks.remove(recorder)
    assert seen == ["a real call"]


def test_offline_calls_state_their_zero_cost_to_litellm() -> None:
    litellm = llm.load_litellm()
    response = litellm.completion(
        model="offline/agent", messages=[{"role": "user", "content": "hi"}]
    )
    assert response._hidden_params["response_cost"] == 0.0
    assert litellm.completion_cost(completion_response=response) == 0.0
    assert response.usage.total_tokens > 0


@pytest.mark.parametrize("enabled", [True, False])
def test_the_garbage_collector_is_left_as_it_was_after_loading(enabled: bool) -> None:
    was = gc.isenabled()
    (gc.enable if enabled else gc.disable)()
    try:
        with llm._collector_paused():
            assert not gc.isenabled()
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()


def test_redaction_follows_the_environment_as_it_changes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PERF_SERVICE_TOKEN", raising=False)
    assert redact("value one-secret-value") == "value one-secret-value"
    monkeypatch.setenv("PERF_SERVICE_TOKEN", "one-secret-value")
    assert redact("value one-secret-value") == "value ***"
    monkeypatch.setenv("PERF_SERVICE_TOKEN", "another-secret-value")
    assert redact("one-secret-value, another-secret-value") == "one-secret-value, ***"
    monkeypatch.delenv("PERF_SERVICE_TOKEN")
    assert redact("another-secret-value") == "another-secret-value"


AMIGO_ONLY_CONFTEST = """
import sys

from pytest_amigo_metrics.testing import FakeAmigoAPI

FAKE = FakeAmigoAPI(rate_window=1.0)
FAKE.add_service("6618791275130b73714e8d1c", reply=lambda history: "{reply}")


def pytest_configure(config):
    config.pluginmanager.register(FAKE.plugin())


def pytest_collection_finish(session):
    from pytest_amigo_metrics.models import llm

    print("litellm import started at collection:", llm._loading is not None)


def pytest_unconfigure(config):
    print("litellm imported:", "litellm" in sys.modules)
"""
AMIGO_ONLY_TEST = """
simulation_unit_tests:
  - name: on amigo
    persona: {{name: Sam, background: A busy customer.}}
    scenario: {{name: Reset, objective: Reset my password., instructions: Be brief.}}
    {user}
    target: {{amigo: {{service_id: "6618791275130b73714e8d1c"}}}}
    metrics:
      - {{metric: Outcome, expect: [resolved, escalated]}}
"""


OTHER_METRIC = """
metrics:
  - name: Elsewhere
    description: Declared beside tests that no session here collects.
    metric_value: {type: boolean}
"""
SCRIPTED = 'script: ["I forgot my password.", "Thanks."]'
SIMULATED = "max_turns: 1"


@pytest.mark.parametrize(
    ("user", "elsewhere", "imported"),
    [(SCRIPTED, None, False), (SIMULATED, None, True), (SCRIPTED, SIMULATED, False)],
    ids=["scripted", "simulated", "simulated-in-a-file-not-collected"],
)
def test_litellm_is_imported_only_when_a_collected_test_calls_a_model(
    suite: Suite, user: str, elsewhere: str | None, imported: bool
) -> None:
    """A session of scripted users, the Amigo judge and Amigo targets never calls a model:
    it does not pay litellm's import (2-3 s, 170 MB), even when a suite file it does not
    collect has a simulated user. A collected simulated user starts the import in the
    background during collection."""
    pytest.importorskip("amigo_sdk")
    suite.write("metrics.amigo.yaml", METRICS)
    suite.write("amigo.amigo.yaml", AMIGO_ONLY_TEST.format(user=user))
    if elsewhere is not None:  # it declares a metric: every session of the project reads it
        suite.write(
            "other/simulated.amigo.yaml",
            OTHER_METRIC + AMIGO_ONLY_TEST.format(user=elsewhere),
        )
    suite.write("conftest.py", AMIGO_ONLY_CONFTEST.format(reply="This is resolved."))
    result = suite.pytester.runpytest_subprocess(
        "-s",
        "--amigo-backend",
        "amigo",
        "--amigo-judge",
        "amigo",
        "--amigo-rate-window",
        "1",
        "amigo.amigo.yaml",
    )
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [f"litellm import started at collection: {imported}", f"litellm imported: {imported}"]
    )


@pytest.fixture
def mark_provider() -> Iterator[list[bool]]:
    """`markcheck/...` models: their provider notes whether the call carries litellm's
    nested-call mark, which makes litellm skip its logging."""
    internal = pytest.importorskip("litellm._internal_context")
    litellm = llm.load_litellm()
    from litellm.llms.custom_llm import CustomLLM
    from litellm.types.utils import ModelResponse

    seen: list[bool] = []

    class MarkCheck(CustomLLM):  # type: ignore[misc]
        async def acompletion(self, model: str, messages: list[Any], *a: Any, **k: Any) -> Any:
            seen.append(internal.is_internal_call.get())
            return ModelResponse(
                model=model,
                choices=[{"index": 0, "message": {"role": "assistant", "content": "ok"}}],
            )

    providers = list(litellm.custom_provider_map)
    litellm.custom_provider_map = [
        *providers,
        {"provider": "markcheck", "custom_handler": MarkCheck()},
    ]
    yield seen
    litellm.custom_provider_map = providers


@pytest.mark.parametrize("reader", [None, "success_callback", "max_budget"])
def test_litellm_logging_is_skipped_only_when_nothing_reads_it(
    loop: tuple[asyncio.AbstractEventLoop, RecordingExecutor],
    mark_provider: list[bool],
    monkeypatch: pytest.MonkeyPatch,
    reader: str | None,
) -> None:
    """If a litellm release drops the mark, the calls still work: this says the speed-up
    went with it."""
    litellm = llm.load_litellm()
    for name in llm._LOGGING_READERS:  # other tests of this process may have left some set
        monkeypatch.setattr(litellm, name, 0.0 if name == "max_budget" else [])
    if reader == "success_callback":
        monkeypatch.setattr(litellm, "success_callback", [lambda *args, **kwargs: None])
    elif reader == "max_budget":
        monkeypatch.setattr(litellm, "max_budget", 10.0)
    internal = pytest.importorskip("litellm._internal_context")

    async def call() -> bool:
        await ask_model("markcheck/model")
        return bool(internal.is_internal_call.get())

    marked_after = loop[0].run_until_complete(call())
    assert mark_provider == [reader is None]
    assert marked_after is False, "the caller's own later litellm calls are logged as usual"


@pytest.mark.parametrize(
    "schema",
    [
        UserTurnSchema,
        response_schema(BooleanMetricValue(type="boolean")),
        response_schema(NumericalMetricValue(type="numerical", lower_bound=1, upper_bound=10)),
        response_schema(CategoricalMetricValue(type="categorical", categories=["a", "b"])),
    ],
    ids=["user turn", "boolean", "numerical", "categorical"],
)
def test_the_response_format_is_litellm_s_own(schema: type[BaseModel]) -> None:
    """Built without litellm (so that a replay never imports it), the response format must be
    what litellm builds: recordings are keyed on it, and it is what the model is sent."""
    llm.load_litellm()
    from litellm.llms.base_llm.base_utils import type_to_response_format_param

    assert llm.response_format_param(schema) == type_to_response_format_param(schema)


IMPORT_CHECK = """
import sys


def pytest_unconfigure(config):
    print("litellm imported:", "litellm" in sys.modules)
"""


def test_a_replay_never_imports_litellm(suite: Suite) -> None:
    """Every call of a replay comes from the recordings (a missing one is an error): litellm's
    import, most of a replayed suite's time in CI, is not needed."""
    suite.standard()
    suite.unit_test(
        runs=2,
        expectations=EMPATHY_AND_OUTCOME,
    )
    suite.write("conftest.py", IMPORT_CHECK)
    recorded = suite.pytester.runpytest_subprocess("-s", "--amigo-record-mode", "record")
    recorded.assert_outcomes(passed=1)
    recorded.stdout.fnmatch_lines(["litellm imported: True"])
    replayed = suite.pytester.runpytest_subprocess("-s", "--amigo-record-mode", "replay")
    replayed.assert_outcomes(passed=1)
    replayed.stdout.fnmatch_lines(
        ["*calls: replayed (4 calls) (--amigo-record-mode)", "litellm imported: False"]
    )
    values = suite.rows("SELECT run_index, metric_id, result FROM evaluation_results")
    assert len(values) == 2 * 2 * 2  # both sessions, 2 runs, 2 metrics
    first, again = values[:4], values[4:]
    assert sorted(tuple(r) for r in first) == sorted(tuple(r) for r in again)


LAZY_AGENTS = """
def quick(messages):
    return "Done, identity verified."


def lazy(messages):
    import openai  # its client made on first use, as many agents do

    return "Done, identity verified."
"""
LAZY_TEST = """
  - name: {name}
    persona: {{name: Sam, background: A busy customer.}}
    scenario: {{name: Reset, objective: Reset my password., instructions: Be brief.}}
    script: ["Hi."]
    target: {{python: "lazy_agents:{name}"}}
    metrics:
      - {{metric: Identity Verified, expect: true}}
"""
SDK_CHECK = """
import sys


def pytest_collection_finish(session):
    print("OpenAI SDK's schema module at collection:", "openai.lib._pydantic" in sys.modules)
"""


def test_a_replay_with_an_agent_that_imports_the_openai_sdk_as_it_runs(suite: Suite) -> None:
    """The replay's response formats need the OpenAI SDK: it is imported during collection, so
    that a sync agent importing it in its thread never races the session's own import (which
    left the SDK's modules half made in both: an ImportError in the agent, a KeyError in the
    judge)."""
    suite.write("metrics.amigo.yaml", METRICS)
    suite.write("lazy_agents.py", LAZY_AGENTS)
    body = "".join(LAZY_TEST.format(name=name) for name in ("lazy", "quick"))
    suite.write("t.amigo.yaml", "simulation_unit_tests:" + body)
    suite.write("conftest.py", SDK_CHECK)
    suite.pytester.runpytest("--amigo-record-mode", "record").assert_outcomes(passed=2)
    replayed = suite.pytester.runpytest_subprocess("-s", "--amigo-record-mode", "replay")
    replayed.assert_outcomes(passed=2)
    replayed.stdout.fnmatch_lines(["OpenAI SDK's schema module at collection: True"])


STOPPED_AT_COLLECTION_CONFTEST = """
import atexit, os, sys, threading
import pytest

def _note():
    alive = [t.name for t in threading.enumerate() if t.name == "amigo-litellm-import"]
    with open(os.path.join({folder!r}, "at_exit.txt"), "w") as f:
        f.write("import thread alive at exit: " + str(bool(alive)) + "\\n")
        f.write("litellm imported: " + str("litellm" in sys.modules))

atexit.register(_note)

def pytest_collection_modifyitems(items):
    if {interrupt}:
        raise KeyboardInterrupt  # Ctrl-C as collection ends, the import still under way
"""


@pytest.mark.parametrize("stop", ["ctrl-c", "-k selecting nothing"])
def test_a_session_that_ends_before_its_tests_run_cuts_litellm_s_background_import_short(
    suite: Suite, stop: str
) -> None:
    """The import (2-7 s) is ended at its next module rather than waited for. Left running
    past the session's end, the import thread printed litellm's warnings after pytest's last
    line, and the interpreter's exit could hang for good (the thread, frozen at exit, held an
    import lock that an object of litellm's, freed then, waited for)."""
    suite.standard()
    suite.write(  # a simulated user: litellm is imported in the background during collection
        "tests.amigo.yaml",
        """
        simulation_unit_tests:
          - name: unscripted
            persona: {name: Sam, background: A busy customer.}
            scenario: {name: Reset, objective: Reset my password., instructions: Be brief.}
            target: {python: "agent:respond"}
            metrics: [{metric: Outcome, expect: resolved}]
        """,
    )
    interrupt = stop == "ctrl-c"
    conftest = STOPPED_AT_COLLECTION_CONFTEST.format(folder=str(suite.path), interrupt=interrupt)
    suite.write("conftest.py", conftest)
    args = ["-p", "no:cacheprovider"] + ([] if interrupt else ["-k", "no_such_test"])
    result = suite.pytester.runpytest_subprocess(*args)
    expected = pytest.ExitCode.INTERRUPTED if interrupt else pytest.ExitCode.NO_TESTS_COLLECTED
    assert result.ret == expected
    assert (suite.path / "at_exit.txt").read_text().splitlines() == [
        "import thread alive at exit: False",
        "litellm imported: False",
    ]
    assert "Exception in thread" not in result.stderr.str()
    assert "ReadOnly" not in result.stdout.str()


SESSIONS_CONFTEST = """
import os
from pytest_amigo_metrics import plugin

def pytest_unconfigure(config):
    with open(os.path.join({folder!r}, "sessions.txt"), "w") as f:
        f.write(str(plugin._sessions_running()))
"""


@pytest.mark.parametrize("where", ["in-process", "subprocess"])
def test_a_session_inside_another_is_told_from_a_process_of_its_own(
    suite: Suite, where: str
) -> None:
    """Only a session whose process ends with it cuts the background import short: inside a
    test's process (pytester's in-process runs) that would leave litellm half imported there."""
    suite.write("conftest.py", SESSIONS_CONFTEST.format(folder=str(suite.path)))
    suite.write("test_nothing.py", "def test_nothing():\n    pass\n")
    run = suite.pytester.runpytest if where == "in-process" else suite.pytester.runpytest_subprocess
    run().assert_outcomes(passed=1)
    assert (suite.path / "sessions.txt").read_text() == ("2" if where == "in-process" else "1")
