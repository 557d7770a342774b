"""Scripted models for tests: `scripted/<name>` answers from a JSON file, in order.

    use_script(tmp_path)      # reads tmp_path/answers.json, logs calls to tmp_path/calls.json

`answers.json` maps a model name to a list of answers, taken in order (the last one repeats).
An answer is the reply's text, or an object:
- `{"raise": "RateLimitError", "message": "...", "retry_after": 2}`: raise that litellm
  exception (with a Retry-After header when `retry_after` is given);
- `{"sleep": 0.5, "text": "..."}`: wait, then answer (a slow or hung model).
Every call is appended to `calls.json`: model, messages, temperature, seed, api_base,
extra_headers, and when it started and ended.

One provider is registered per process and `use_script` only points it at a directory, so the
answers never depend on how a litellm release caches custom providers.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

from ..file_lock import locked
from ..models.llm import load_litellm

PROVIDER = "scripted"


def use_script(directory: Path | str) -> None:
    """Serve `scripted/...` models from `directory`/answers.json in this process."""
    litellm = load_litellm()
    for item in litellm.custom_provider_map:
        if item["provider"] == PROVIDER:
            # Duck-typed: the handler may come from an earlier import of this module.
            item["custom_handler"].directory = Path(directory)
            return
    handler = _make_handler(litellm)
    handler.directory = Path(directory)
    litellm.custom_provider_map = [
        *litellm.custom_provider_map,
        {"provider": PROVIDER, "custom_handler": handler},
    ]


def _make_handler(litellm: Any) -> Any:
    class ScriptedProvider(litellm.CustomLLM):  # type: ignore[misc]
        directory: Path | None = None

        async def acompletion(self, model: str, messages: list[Any], *a: Any, **kw: Any) -> Any:
            return await _answer(litellm, self.directory, model, messages, kw)

        def completion(self, model: str, messages: list[Any], *a: Any, **kw: Any) -> Any:
            return asyncio.run(_answer(litellm, self.directory, model, messages, kw))

    return ScriptedProvider()


async def _answer(
    litellm: Any, directory: Path | None, model: str, messages: list[Any], kwargs: dict[str, Any]
) -> Any:
    if directory is None:
        raise RuntimeError("scripted models: call use_script(directory) first")
    started = time.time()
    answer = _next_answer(directory, model)
    if isinstance(answer, dict) and "sleep" in answer:
        await asyncio.sleep(float(answer["sleep"]))
        answer = answer.get("text", "")
    _log_call(directory, model, messages, kwargs, started)
    if isinstance(answer, dict) and "raise" in answer:
        raise _error(litellm, answer, model)
    return litellm.ModelResponse(
        model=f"{PROVIDER}/{model}",
        choices=[
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": answer},
            }
        ],
    )


def _next_answer(directory: Path, model: str) -> Any:
    path = directory / "answers.json"
    with locked(directory / "answers.lock"):
        answers = json.loads(path.read_text())
        if model not in answers:
            raise KeyError(f"scripted models: no answers for {model!r} in {path}")
        queue = answers[model]
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        path.write_text(json.dumps(answers))
    return answer


def _log_call(
    directory: Path, model: str, messages: list[Any], kwargs: dict[str, Any], started: float
) -> None:
    params = kwargs.get("optional_params") or {}
    entry = {
        "model": model,
        "messages": messages,
        "temperature": params.get("temperature"),
        "seed": params.get("seed"),
        "api_base": kwargs.get("api_base"),
        "extra_headers": params.get("extra_headers") or kwargs.get("headers"),
        "started": started,
        "ended": time.time(),
    }
    with locked(directory / "calls.lock"):
        calls = directory / "calls.json"
        log = json.loads(calls.read_text()) if calls.exists() else []
        log.append(entry)
        calls.write_text(json.dumps(log))


def _error(litellm: Any, answer: dict[str, Any], model: str) -> Exception:
    error_type = getattr(litellm, answer["raise"])
    kwargs: dict[str, Any] = {
        "message": answer.get("message", "scripted failure"),
        "model": model,
        "llm_provider": PROVIDER,
    }
    if "retry_after" in answer:
        import httpx

        kwargs["response"] = httpx.Response(
            429,
            headers={"retry-after": str(answer["retry_after"])},
            request=httpx.Request("POST", "http://scripted.invalid"),
        )
    try:
        return error_type(**kwargs)  # type: ignore[no-any-return]
    except TypeError:  # exception types without `response`
        kwargs.pop("response", None)
        return error_type(**kwargs)  # type: ignore[no-any-return]
