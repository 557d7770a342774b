"""The single gateway to litellm: lazy import, offline provider registration, retries."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import gc
import logging
import os
import re
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from ..errors import ModelCallError
from ..redact import redact
from ..retry_after import retry_after_seconds
from ..runs.limits import CURRENT_LIMITS, model_slot
from ..runs.time_limits import OutOfTime, within
from . import recording, usage
from .import_cancel import CancelPoint, ImportCancelled
from .offline_models import OFFLINE_MODELS, OFFLINE_PROVIDER, WARM_UP_MODEL

# Names of litellm exceptions that are worth another attempt: rate limits, outages, timeouts.
TRANSIENT_ERRORS = (
    "RateLimitError",
    "ServiceUnavailableError",
    "Timeout",
    "APIConnectionError",
    "InternalServerError",
    "BadGatewayError",
)

# The provider's client found no key (litellm reports it as a 500): no attempt can succeed.
MISSING_KEY = re.compile(r"(?i)missing credentials|api_key client option must be set")
KEY_HINT = (
    "\n    fix: set the provider's key in the environment (OPENAI_API_KEY, ...); a server on "
    "your own endpoint that checks no key takes any value, e.g. OPENAI_API_KEY=unused"
)


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4
    base_delay: float = 1.0
    max_delay: float = 30.0

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Exponential backoff, or the server's Retry-After when it asks for longer."""
        backoff = self.base_delay * (2**attempt)
        return float(min(self.max_delay, max(backoff, retry_after or 0.0)))


def retry_after(exc: BaseException) -> float | None:
    """Seconds from a Retry-After header on the error's HTTP response, when there is one:
    a number of seconds, or an HTTP date (RFC 9110)."""
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    return retry_after_seconds(headers.get("retry-after") if headers is not None else None)


@dataclass(frozen=True)
class Completion:
    text: str
    model: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float | None = None  # USD; None: litellm knows no price for the model
    replayed: bool = False  # served from a recording: no call, no tokens, no cost


@dataclass(frozen=True)
class ModelEndpoint:
    """A model as litellm is called for it: the model string and where to reach it."""

    model: str
    api_base: str | None = None
    api_version: str | None = None
    extra_headers: tuple[tuple[str, str], ...] = ()

    @property
    def label(self) -> str:
        """How reports and errors name it: the model, and its URL when it has its own."""
        return f"{self.model} at {redact(self.api_base)}" if self.api_base else self.model

    def call_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {}
        if self.api_base:
            kwargs["api_base"] = self.api_base
        if self.api_version:
            kwargs["api_version"] = self.api_version
        if self.extra_headers:
            kwargs["extra_headers"] = dict(self.extra_headers)
        return kwargs


def is_offline(model: str) -> bool:
    return model.startswith(OFFLINE_PROVIDER + "/")


# litellm's own help banners and bug-report links: noise in a test report.
_LITELLM_NOISE = re.compile(
    r"(?im)^.*(give feedback / get help|github\.com/berriai/litellm/issues|litellm\.info:|"
    r"turn_on_debug|litellm\._turn_on_debug).*$\n?"
)


def clean_error(exc: BaseException) -> str:
    """An exception as one readable line for reports: its type and message, no banners, no
    secrets."""
    name = type(exc).__name__
    text = _LITELLM_NOISE.sub("", str(exc)).strip()
    while (stripped := re.sub(rf"^(litellm\.)?{name}: ", "", text)) != text:
        text = stripped  # litellm repeats the type name in front of its messages
    if "Connection error" in text and (cause := _transport_cause(exc)):
        text = f"{text} ({cause})"  # which: refused, unknown host, cut off mid-answer...
    return redact(f"{name}: {text}")


def _transport_cause(exc: BaseException) -> str | None:
    """The HTTP client's own error behind litellm's bare "Connection error.", shortened."""
    seen: set[int] = set()
    cause: BaseException | None = exc
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if type(cause).__module__.split(".")[0] == "httpx":
            text = re.sub(r" ssl:<[^>]*>", "", str(cause)).strip()
            return f"{type(cause).__name__}: {text[:300]}"
        cause = cause.__cause__ or cause.__context__
    return None


_loaded: Any = None
_loading: threading.Thread | None = None
_cancel_point: CancelPoint | None = None
_load_lock = threading.Lock()
_background_import_done = threading.Event()


def start_loading_litellm() -> None:
    """Import litellm in a background thread (2-3 s), so that it overlaps collection; the first
    call to load_litellm() waits for it."""
    global _loading, _cancel_point
    with _load_lock:
        if _loaded is None and _loading is None:
            _loading = threading.Thread(
                target=_load_in_background, daemon=True, name="amigo-litellm-import"
            )
            _cancel_point = CancelPoint(_loading)
            _cancel_point.install()
            _loading.start()


def _load_in_background() -> None:
    try:
        with contextlib.suppress(Exception):  # the caller's load_litellm() imports it again
            load_litellm()
    except ImportCancelled:
        pass  # the session ended without needing it
    finally:
        if _cancel_point is not None:
            _cancel_point.remove()
        _background_import_done.set()


def load_litellm() -> Any:
    """Import litellm once, quietly and without fetching its remote cost map."""
    global _loaded
    if _loaded is not None:
        return _loaded
    _wait_for_background_import()
    with _load_lock:
        if _loaded is None:
            _loaded = _import_litellm()
    return _loaded


def finish_background_import(*, abandon: bool) -> None:
    """At the session's end, a litellm import still running in the background (the session
    was stopped during collection, by Ctrl-C or a usage error, or ran no test) is ended, its
    warnings silenced: with `abandon`, at its next module (the process is about to exit);
    otherwise it is waited for. Left running, it printed litellm's warnings after pytest's last
    line, and the interpreter's exit could hang for good: the thread, frozen at exit while it
    held an import lock, never let go of it, and an object of litellm's freed then imported a
    module."""
    with warnings.catch_warnings():
        _quiet_litellm_warnings()
        if abandon and _cancel_point is not None:
            _cancel_point.cancelled = True
        _wait_for_background_import()


def _wait_for_background_import() -> None:
    loading = _loading
    if loading is not None and loading is not threading.current_thread():
        # Not loading.join(): a join that Ctrl-C interrupted can leave the thread marked as
        # stopped while it runs on (Python 3.11), and later joins return at once.
        _background_import_done.wait()


def _import_litellm() -> Any:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    with _collector_paused():
        litellm = _import_and_register()
    _warm_up(litellm)
    return litellm


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """litellm's import makes about 370,000 objects and no garbage: the garbage collector's
    passes over them are a third of the import's time. They are frozen afterwards, so that the
    full collections during the session do not walk them again either."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
    gc.freeze()


def _import_and_register() -> Any:
    import litellm

    from .offline import OfflineProvider

    litellm.suppress_debug_info = True
    providers = litellm.custom_provider_map or []
    if not any(p.get("provider") == OFFLINE_PROVIDER for p in providers):
        litellm.custom_provider_map = [
            *providers,
            {"provider": OFFLINE_PROVIDER, "custom_handler": OfflineProvider()},
        ]
    # Offline calls cost nothing; known to litellm's cost map, their cost is found at once.
    free = {"input_cost_per_token": 0.0, "output_cost_per_token": 0.0, "mode": "chat"}
    logger = logging.getLogger("LiteLLM")
    level = logger.level
    logger.setLevel(logging.ERROR)  # it warns that offline models have no cache pricing
    try:
        litellm.register_model(
            {
                model: {**free, "litellm_provider": OFFLINE_PROVIDER}
                for model in OFFLINE_MODELS.values()
            }
        )
    except Exception:  # a litellm without it: costs are then looked up the slow way
        pass
    finally:
        logger.setLevel(level)
    return litellm


def _warm_up(litellm: Any) -> None:
    """One offline call through litellm's completion path (no-log: no callback sees it), so
    that its lazy imports and tokenizer load here, where the import already runs, rather than
    on the session's first model call (0.3 s of CPU on its critical path). Its warnings are
    litellm's own (catch_warnings cannot be used off the main thread: it swaps global state)."""
    _quiet_litellm_warnings()
    with contextlib.suppress(Exception):  # only a head start: real calls report their errors
        litellm.completion(
            model=WARM_UP_MODEL,
            messages=[{"role": "user", "content": "warm-up"}],
            num_retries=0,
            **{"no-log": True},
        )


@contextlib.contextmanager
def litellm_warnings_silenced() -> Iterator[None]:
    """Around the session's event loop: litellm's background logging emits them too."""
    with warnings.catch_warnings():
        _quiet_litellm_warnings()
        yield


def _quiet_litellm_warnings() -> None:
    """litellm's own types trip pydantic UserWarnings (some releases on every call); they are
    not the user's concern. Added per call because pytest resets warning filters per item."""
    warnings.filterwarnings("ignore", message=r".*`ReadOnly` qualifier", category=UserWarning)
    warnings.filterwarnings(
        "ignore",
        message=r"(?s)Pydantic serializer warnings:.*Expected `(Message|StreamingChoices|Choices)",
        category=UserWarning,
    )


def prepare_response_formats() -> None:
    """Import what response_format_param needs, on the calling thread. A session that will not
    import litellm (a replay) calls it during collection: imported later, from the session's
    loop, it could meet a sync agent importing the OpenAI SDK in its own thread, and the SDK's
    modules, which import one another, would come out half made in both."""
    with contextlib.suppress(ImportError):  # response_format_param then falls back to litellm
        import openai.lib._pydantic  # noqa: F401


@functools.lru_cache(maxsize=512)
def response_format_param(schema: type[BaseModel]) -> dict[str, Any]:
    """The `response_format` for a pydantic class, built once per class (one per metric
    version) instead of on every call: what litellm's `type_to_response_format_param` gives,
    the OpenAI SDK's strict JSON schema under the class's name. Built from the SDK (0.6 s to
    import) rather than from litellm (2-3 s): a replayed session, whose recordings are keyed on
    it, never imports litellm."""
    _wait_for_background_import()  # litellm's import imports the SDK: never two at once
    try:
        from openai.lib._pydantic import to_strict_json_schema
    except ImportError:  # an SDK without it: litellm's own function, whatever it uses
        load_litellm()  # first: it keeps litellm from fetching its cost map at import
        from litellm.llms.base_llm.base_utils import type_to_response_format_param

        param = type_to_response_format_param(schema)
        assert param is not None
        return param
    return {
        "type": "json_schema",
        "json_schema": {
            "schema": to_strict_json_schema(schema),
            "name": schema.__name__,
            "strict": True,
        },
    }


def provider_problem(endpoint: ModelEndpoint) -> str | None:
    """Why no litellm provider accepts the model string, or None when one does."""
    litellm = load_litellm()
    prefix = endpoint.model.partition("/")[0]
    if any(p.get("provider") == prefix for p in litellm.custom_provider_map or []):
        return None  # older litellm releases do not look at custom providers here
    try:
        litellm.get_llm_provider(model=endpoint.model, api_base=endpoint.api_base)
    except Exception:
        return f"no litellm provider accepts the model {endpoint.model!r}"
    return None


async def complete(
    endpoint: ModelEndpoint,
    messages: list[dict[str, str]],
    *,
    role: str,
    retry: RetryPolicy,
    response_format: type[BaseModel] | None = None,
    temperature: float | None = 0.0,
    seed: int | None = None,
) -> Completion:
    """One chat completion, replayed from the test's recording or recorded when the record
    mode says so (recording.py); else live, see _complete_live."""
    options: dict[str, Any] = {"temperature": temperature, "seed": seed}
    if response_format is not None:
        options["response_format"] = response_format_param(response_format)
    call = recording.model_call(
        role=role,
        model=endpoint.model,
        api_base=endpoint.api_base,
        messages=messages,
        temperature=temperature,
        seed=seed,
        response_format=options.get("response_format"),
    )
    if call is not None and (recorded := call.replay()) is not None:
        replayed = Completion(text=recorded.text, model=recorded.model, replayed=True)
        usage.record(replayed)  # a call, with no tokens and no cost
        return replayed
    live_options = {name: value for name, value in options.items() if value is not None}
    completion = await _complete_live(endpoint, messages, role, retry, live_options)
    if call is not None:
        call.keep(completion.text, completion.model)
    return completion


async def _complete_live(
    endpoint: ModelEndpoint,
    messages: list[dict[str, str]],
    role: str,
    retry: RetryPolicy,
    options: dict[str, Any],
) -> Completion:
    """One chat completion with the request's `options` (temperature, seed, response_format:
    those that are set); transient failures are retried with exponential backoff. Errors name
    the role, the model and its URL."""
    litellm = load_litellm()
    _quiet_litellm_warnings()
    # drop_params: a provider without e.g. `seed` or `response_format` still answers; the
    # prompt asks for JSON anyway and every answer is validated.
    kwargs: dict[str, Any] = {
        "num_retries": 0,
        "drop_params": True,
        **endpoint.call_kwargs(),
        **options,
    }
    who = f"{role} model {endpoint.model!r}" + (
        f" at {redact(endpoint.api_base)}" if endpoint.api_base else ""
    )
    limits = CURRENT_LIMITS.get()
    timeout = limits.settings.call_timeout if limits is not None else None
    if timeout:
        kwargs["timeout"] = timeout  # the provider's HTTP client gives up too
    last_error = ""
    for attempt in range(retry.attempts):
        asked: float | None = None
        async with model_slot(endpoint.model, endpoint.api_base) as gate:
            try:
                with _unread_logging_skipped(litellm):
                    response = await within(
                        litellm.acompletion(model=endpoint.model, messages=messages, **kwargs),
                        timeout,
                    )
            except OutOfTime:
                response = None
                last_error = f"no answer within {timeout:g} s (--amigo-call-timeout)"
            except Exception as exc:
                response = None
                last_error = clean_error(exc)
                if MISSING_KEY.search(last_error):
                    raise ModelCallError(
                        f"{who} failed, not retried: {last_error}{KEY_HINT}"
                    ) from None
                if type(exc).__name__ not in TRANSIENT_ERRORS:
                    raise ModelCallError(f"{who} failed: {last_error}") from None
                asked = retry_after(exc)
                if gate is not None and asked:
                    # The pause holds every call to this model, this one's retry included.
                    gate.pause(min(asked, retry.max_delay))
                    asked = None
        if response is not None and not _has_message(response):
            # A 200 without a message (e.g. `"choices": []`): the provider's fault, retried.
            response = None
            last_error = "the provider's answer holds no message (no `choices`)"
        if response is None:
            if attempt + 1 < retry.attempts:
                await asyncio.sleep(retry.delay(attempt, asked))
            continue
        content = response.choices[0].message.content
        completion = Completion(content or "", endpoint.model, *_usage_of(litellm, response))
        usage.record(completion)
        return completion
    unreachable = endpoint.api_base and re.search(r"ConnectError|ConnectTimeout", last_error)
    cut_off = re.search(r"ReadError|RemoteProtocolError", last_error)
    timed_out = last_error.startswith("no answer within")
    what = (
        "could not be reached"
        if unreachable
        else "broke off its answers"
        if cut_off
        else "timed out"
        if timed_out
        else "still failing"
    )
    raise ModelCallError(
        f"{who} {what} after {retry.attempts} attempts "
        f"(infrastructure, not a quality failure): {last_error}"
    )


def _has_message(response: Any) -> bool:
    choices = getattr(response, "choices", None) or []
    return bool(choices) and getattr(choices[0], "message", None) is not None


# What reads litellm's success and failure logging: its callback lists and budget tracking.
_LOGGING_READERS = (
    "callbacks",
    "success_callback",
    "failure_callback",
    "_async_success_callback",
    "_async_failure_callback",
    "input_callback",
    "service_callback",
    "max_budget",
)


@contextlib.contextmanager
def _unread_logging_skipped(litellm: Any) -> Iterator[None]:
    """litellm runs its success (or failure) logging for every call, building a record of it:
    a quarter of its CPU per call, even when nothing reads it. With no callback configured and
    no budget set, the call carries the mark litellm gives its own nested calls, whose logging
    it skips; the answer, its usage and its cost are the same. A callback configured at any
    time sees every later call. A litellm release without the mark logs as usual."""
    mark = _internal_call_mark()
    if mark is None or any(getattr(litellm, name, None) for name in _LOGGING_READERS):
        yield
        return
    token = mark.set(True)
    try:
        yield
    finally:
        # A call closed outside its task (a task destroyed after the loop closed) cannot reset.
        with contextlib.suppress(ValueError):
            mark.reset(token)


@functools.cache
def _internal_call_mark() -> contextvars.ContextVar[bool] | None:
    try:
        from litellm._internal_context import is_internal_call
    except ImportError:
        return None
    return is_internal_call if isinstance(is_internal_call, contextvars.ContextVar) else None


def _usage_of(litellm: Any, response: Any) -> tuple[int, int, float | None]:
    """The tokens a response reports and its cost: litellm's own (computed once per call,
    None for a model it has no price for), else asked of its cost map; never an error."""
    counted = getattr(response, "usage", None)  # absent when a custom provider gives none
    prompt = int(getattr(counted, "prompt_tokens", 0) or 0)
    answer = int(getattr(counted, "completion_tokens", 0) or 0)
    hidden = getattr(response, "_hidden_params", None) or {}
    if "response_cost" in hidden:
        cost = hidden["response_cost"]
    else:  # a litellm that did not compute it
        try:
            cost = litellm.completion_cost(completion_response=response)
        except Exception:
            cost = None
    return prompt, answer, float(cost) if isinstance(cost, int | float) else None
