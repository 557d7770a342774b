from __future__ import annotations

import asyncio
import contextvars
import difflib
import functools
import importlib
import inspect
import os
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import AgentError
from ..runs import ctrl_c
from ..runs.agent_threads import AGENT_THREADS
from ..runs.limits import CURRENT_LIMITS
from ..runs.loop_guard import LoopBlocked, guarded
from ..runs.transcript import Transcript
from .base import StatelessAgent


def import_callable(ref: str, search_paths: list[Path]) -> Callable[..., Any]:
    """Import `package.module:function` (dotted attributes allowed), looking in search_paths too.
    AgentError, saying what went wrong, when it cannot be imported or is not callable."""
    module_name, _, attribute = ref.partition(":")
    folders = list(dict.fromkeys(str(p) for p in search_paths))
    for folder in reversed(folders):
        if folder not in sys.path:
            sys.path.insert(0, folder)
    try:
        target: Any = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise AgentError(
            f"cannot import the agent {ref!r}: ModuleNotFoundError: {exc}\n"
            f"    looked in: {', '.join(folders)} and sys.path"
        ) from None
    except (Exception, SystemExit) as exc:  # the module itself failed while importing
        raise AgentError(
            f"cannot import the agent {ref!r}: importing {module_name!r} raised {_describe(exc)}"
        ) from None
    shadowed = _shadowed(module_name, folders)
    if shadowed:
        raise AgentError(f"cannot import the agent {ref!r}: {shadowed}")
    for part in attribute.split("."):
        if not hasattr(target, part):
            raise AgentError(
                f"cannot import the agent {ref!r}: AttributeError: {_owner(target)} has no "
                f"attribute {part!r}{_did_you_mean(part, target)}"
            )
        target = getattr(target, part)
    if not callable(target):
        raise AgentError(f"the agent {ref!r} is not callable: it is a {type(target).__name__}")
    return target  # type: ignore[no-any-return]


def _shadowed(module_name: str, folders: list[str]) -> str | None:
    """Why the module imported is not the one beside the suite file (or in the rootdir) that
    `module_name` names there: a module of the same name, from another folder, imported first
    (two suite folders with an `agent.py` each). Python keeps one module per name, so the
    second suite would silently run the first one's agent; pytest refuses test modules of the
    same name the same way ("import file mismatch")."""
    top = module_name.partition(".")[0]
    imported = getattr(sys.modules.get(top), "__file__", None)
    if not imported:
        return None  # a namespace package or a built-in module: nothing to compare
    return _shadowing(top, imported, tuple(folders))


@functools.lru_cache(maxsize=256)  # once per module and folders, not per test (5,000 tests)
def _shadowing(top: str, imported: str, folders: tuple[str, ...]) -> str | None:
    for folder in folders:  # in the order they are searched
        base = Path(folder) / top
        wanted = next(
            (p for p in (base / "__init__.py", base.with_suffix(".py")) if p.is_file()), None
        )
        if wanted is None:
            continue
        if Path(imported).resolve() == wanted.resolve():
            return None
        return (
            f"the module {top!r} imported is {imported}, not {wanted}: a module of the same "
            "name was imported first from another folder, and Python keeps one module per "
            f"name; give each agent's module a name of its own (e.g. "
            f"{Path(folder).name}_{top}{'.py' if wanted.name != '__init__.py' else ''})"
        )
    return None


def _describe(exc: BaseException) -> str:
    if isinstance(exc, SyntaxError):
        where = f" ({exc.filename}, line {exc.lineno})" if exc.filename else ""
        return f"SyntaxError: {exc.msg}{where}"
    if isinstance(exc, SystemExit):
        return f"SystemExit({exc.code!r}): the module calls sys.exit() when imported"
    return f"{type(exc).__name__}: {exc}"


def signature_problem(ref: str, function: Callable[..., Any]) -> str | None:
    """Why the agent cannot be called as it will be, with one argument (the conversation so
    far), or None when it can (or its signature cannot be known: the call will tell)."""
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):  # a builtin or an extension's callable
        return None
    try:
        signature.bind([])
    except TypeError as exc:
        name = getattr(function, "__name__", type(function).__name__)
        return f"the agent {ref!r} cannot be called with the conversation: {name}{signature}: {exc}"
    return None


_PACKAGE = os.path.join(os.path.dirname(os.path.dirname(__file__)), "")


def _agent_trace(exc: Exception) -> str:
    """The last frames of what the agent raised, from its own code on: the plugin's frames
    that called it are left out (nothing, when the call itself failed)."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename.startswith(_PACKAGE):
        tb = tb.tb_next
    if tb is None:
        return ""
    return "".join(traceback.format_exception(type(exc), exc, tb, limit=-3))


def _owner(target: Any) -> str:
    kind = "module" if inspect.ismodule(target) else type(target).__name__
    return f"{kind} {getattr(target, '__name__', '')!r}"


def _did_you_mean(name: str, owner: Any) -> str:
    public = [n for n in dir(owner) if not n.startswith("_") and callable(getattr(owner, n, None))]
    close = difflib.get_close_matches(name, public, n=2)
    return f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""


async def in_agent_thread(function: Callable[..., Any], *args: Any) -> Any:
    """Call a sync agent in the session's agent threads, with this task's context (so what it
    prints or logs is its own test's)."""
    context = contextvars.copy_context()
    threads = AGENT_THREADS.get()
    if threads is None:
        return await asyncio.get_running_loop().run_in_executor(None, context.run, function, *args)
    future = threads.submit(context.run, function, *args)
    try:
        return await asyncio.wrap_future(future)
    except asyncio.CancelledError:  # out of time (or the session stopped): the call goes on
        threads.abandon(future)
        raise


@dataclass(frozen=True)
class _Escaped:
    """A sync agent raised what is not an Exception (SystemExit, KeyboardInterrupt,
    GeneratorExit, ...) in its thread: that ends its run in error, never the session (in a
    thread, a KeyboardInterrupt can only be the agent's)."""

    exc: BaseException

    def describe(self, ref: str) -> str:
        if isinstance(self.exc, SystemExit):
            return (
                f"SystemExit raised by the agent {ref!r}: it called sys.exit({self.exc.code!r}); "
                "an agent returns its reply instead"
            )
        said = str(self.exc)
        return f"{type(self.exc).__name__} raised by the agent {ref!r}" + (
            f": {said}" if said else ""
        )


def _contained(function: Callable[..., Any], *args: Any) -> Any:
    try:
        return function(*args)
    except BaseException as exc:
        if isinstance(exc, Exception):
            raise
        return _Escaped(exc)


def _blocked(ref: str, exc: LoopBlocked) -> AgentError:
    return AgentError(
        f"the async agent {ref!r} held the session's event loop: {exc} (--amigo-turn-timeout); "
        "an async agent must not call blocking code (time.sleep, a sync HTTP or database "
        "client): await an async version, or make the agent a plain `def` (sync agents run in "
        "threads of their own)"
    )


def _ours(exc: asyncio.CancelledError) -> bool:
    """A cancellation of the run (time limit, session stop), not one the agent raised."""
    task = asyncio.current_task()
    cancelling = getattr(task, "cancelling", None)  # Python 3.11+
    return task is None or cancelling is None or cancelling() > 0


class PythonAgent(StatelessAgent):
    """A Python callable given the conversation so far as OpenAI-style messages
    (`[{"role": "user" | "assistant", "content": ...}]`), sync or async, returning a string."""

    def __init__(self, ref: str, search_paths: list[Path]) -> None:
        self.ref = ref
        self.search_paths = search_paths
        self._function: Callable[..., Any] | None = None

    @property
    def name(self) -> str:
        return f"python:{self.ref}"

    async def reply(self, transcript: Transcript) -> str:
        if self._function is None:
            self._function = import_callable(self.ref, self.search_paths)
        messages = transcript.as_chat("agent")
        limits = CURRENT_LIMITS.get()
        limit = limits.settings.turn_timeout if limits is not None else None
        try:
            if inspect.iscoroutinefunction(self._function):
                result = await guarded(self._function(messages), limit)
            else:
                result = await in_agent_thread(_contained, self._function, messages)
                if isinstance(result, _Escaped):
                    raise AgentError(result.describe(self.ref))
                if inspect.isawaitable(result):
                    result = await guarded(result, limit)
        except AgentError:
            raise
        except Exception as exc:
            trace = _agent_trace(exc)
            raise AgentError(
                f"{type(exc).__name__} raised by the agent {self.ref!r}: {exc}"
                + (f"\n{trace}" if trace else "")
            ) from None
        except LoopBlocked as exc:
            raise _blocked(self.ref, exc) from None
        except KeyboardInterrupt as exc:
            if ctrl_c.counts_as_ctrl_c():  # Ctrl-C while the agent's code ran: it ends the session
                raise
            raise AgentError(_Escaped(exc).describe(self.ref)) from None
        except asyncio.CancelledError as exc:
            if _ours(exc):
                raise
            raise AgentError(_Escaped(exc).describe(self.ref)) from None
        except GeneratorExit:  # this coroutine closed (by asyncio or the garbage collector)
            raise
        except BaseException as exc:  # SystemExit, ...: the agent's own
            raise AgentError(_Escaped(exc).describe(self.ref)) from None
        if not isinstance(result, str) or not result.strip():
            raise AgentError(
                f"the agent {self.ref!r} must return a non-empty string, got {result!r}"
            )
        return result
