"""pydantic's validation errors of a suite file as file:line problems: the field's path as
the YAML spells it, and a hint that says how to fix it."""

from __future__ import annotations

import difflib
import re
import types
import typing
from pathlib import Path
from typing import Any, get_args, get_origin

from pydantic import BaseModel
from pydantic_core import ErrorDetails

from ..errors import SpecProblem, bounded_repr
from .spec import METRIC_VALUE_TYPES, UNION_TAGS, Connection, ModelsSpec, SuiteFile
from .yaml_lines import LineDict, line_of


def format_loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


# Keys of a model's connection that name a credential (`api_key`, `token`, ...).
_CREDENTIAL_KEY = re.compile(r"(?i)(key|token|secret|password|authorization|credential)")


def problem_of(path: Path, document: LineDict, err: ErrorDetails) -> SpecProblem:
    """One validation error as a problem at the YAML line of the field it concerns."""
    loc, model = _walk(err["loc"])
    line = line_of(document, loc)
    field = format_loc(loc)
    kind = err["type"]
    if kind == "extra_forbidden":
        unknown = str(loc[-1])
        allowed = sorted(model.model_fields) if model else []
        if model is not None and issubclass(model, Connection) and _CREDENTIAL_KEY.search(unknown):
            # `api_key:` is close to `api_base`, but a key is never a field: the "did you
            # mean" would have the key written as the server's URL.
            return SpecProblem(
                path,
                line,
                field,
                f"unknown key {bounded_repr(unknown)}: credentials never go in a suite file",
                "remove it and set the provider's key in the environment (e.g. OPENAI_API_KEY), "
                "where litellm reads it; a server that checks no key takes any value, e.g. "
                f"OPENAI_API_KEY=unused; allowed keys: {', '.join(allowed)}",
            )
        close = difflib.get_close_matches(unknown, allowed, n=1)
        hint = f"did you mean `{close[0]}`? " if close else ""
        if model is ModelsSpec and unknown == "agent":
            hint = (
                "the agent's model is the target's: `target: {model: openai/gpt-4o-mini}` "
                "(or --amigo-agent-model for every test); "
            )
        return SpecProblem(
            path,
            line,
            field,
            f"unknown key {bounded_repr(unknown)}",
            hint + f"allowed keys: {', '.join(allowed)}",
        )
    if kind == "missing":
        return SpecProblem(path, line, field, "required field is missing", f"add `{loc[-1]}`")
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        given = str(err.get("ctx", {}).get("tag", ""))
        close = difflib.get_close_matches(given, METRIC_VALUE_TYPES, n=1)
        hint = f"did you mean `{close[0]}`? " if close else ""
        return SpecProblem(
            path,
            line,
            field + ".type",
            f"unknown or missing metric value type {bounded_repr(given)}"
            if given
            else "missing `type`",
            hint + f"use one of: {', '.join(METRIC_VALUE_TYPES)}",
        )
    if kind == "value_error":
        message = err["msg"].removeprefix("Value error, ")
        return SpecProblem(path, line, field, message, _hint(loc) or _value_hint(message))
    message = "has a form that is not allowed" if kind == "string_pattern_mismatch" else err["msg"]
    hint = _unquoted_hint(err) or _hint(loc) or _type_hint(err)
    return SpecProblem(path, line, field, f"{message} (got {bounded_repr(err.get('input'))})", hint)


_TYPE_HINTS = {
    "int_type": "write a whole number",
    "float_type": "write a number",
    "finite_number": "write a finite number (.nan and .inf are not allowed)",
    "int_parsing": "write a whole number",
    "int_from_float": "write a whole number",
    "float_parsing": "write a number",
    "bool_parsing": "write true or false",
    "bool_type": "write true or false",
    "string_type": "write text; quote it if YAML reads it as something else",
    "string_too_short": "write a non-empty text",
    "list_type": "write a list: [a, b] or one `- item` per line",
    "dict_type": "write a mapping: {key: value} or one `key: value` per line",
    "model_type": "write a mapping: {key: value} or one `key: value` per line",
    "model_attributes_type": "write a mapping: {key: value} or one `key: value` per line",
    "too_short": "add at least one item",
    "too_long": "remove items",
}


# The fix for a rule of the format broken, by what its message says.
_VALUE_HINTS = {
    "`expect` is required": 'add what the metric must show: expect: ">= 7", expect: true, '
    "expect: resolved or expect: [resolved, escalated]",
    "must be below upper_bound": "make lower_bound the smaller bound, e.g. "
    "{type: numerical, lower_bound: 1, upper_bound: 10}",
    "is listed twice": "list each category once",
    "holds a control character": "write the name on one line, without escapes",
    "holds '::'": "write it without '::', e.g. 'refund - escalated'",
    "carries a credential": "remove the header and set the provider's key in the environment "
    "(e.g. OPENAI_API_KEY), where litellm reads it; a server that checks no key takes any "
    "value, e.g. OPENAI_API_KEY=unused",
}


def _value_hint(message: str) -> str:
    return next((hint for said, hint in _VALUE_HINTS.items() if said in message), "")


def _unquoted_hint(err: ErrorDetails) -> str:
    """Text YAML read as something else: `yes`, `no`, `on`, `off` are booleans, `1.0` a number."""
    given = err.get("input")
    if err["type"] != "string_type" or not isinstance(given, bool | int | float):
        return ""
    if isinstance(given, bool):
        return (
            "YAML reads unquoted yes, no, on, off, true and false as booleans: quote the text, "
            "e.g. 'yes'"
        )
    return f"YAML reads {given!r} as a number: quote it, e.g. '{given}'"


def _type_hint(err: ErrorDetails) -> str:
    ctx = err.get("ctx", {})
    for bound, words in (("ge", "at least"), ("gt", "above"), ("le", "at most"), ("lt", "below")):
        if bound in ctx:
            return f"use a value {words} {ctx[bound]}"
    return _TYPE_HINTS.get(err["type"], "")


def _hint(loc: tuple[int | str, ...]) -> str:
    names = {str(p) for p in loc}
    if "tags" in names:
        return (
            "tags: at most 20; keys and values hold letters, digits, '_' and spaces; "
            "a value may be null"
        )
    if "applied_to_services" in names or "service_id" in names:
        return 'service ids are 24 lowercase hex characters, quoted: "6618791275130b73714e8d1c"'
    if "python" in names:
        return "write the agent as 'package.module:function'"
    if "api_base" in names:
        return (
            "write the server's base URL with its scheme and host and no spaces, "
            "e.g. 'http://127.0.0.1:8000/v1' or 'https://my-resource.openai.azure.com'"
        )
    if "categories" in names:
        return "give 1 to 50 distinct, non-empty categories"
    if "models" in names and not names & {"api_base", "api_version", "extra_headers"}:
        return "write a litellm model string, or a mapping {model: ..., api_base: ...}"
    return ""


def _walk(loc: tuple[int | str, ...]) -> tuple[tuple[int | str, ...], type[BaseModel] | None]:
    """Drop union tags from a pydantic loc; return it and the model holding its last key."""
    node: Any = SuiteFile
    holder: type[BaseModel] | None = None
    kept: list[int | str] = []
    for part in loc:
        if isinstance(node, dict) and isinstance(part, str) and part in node:
            node = node[part]
            continue
        if part == "[key]" or part in UNION_TAGS:
            continue
        kept.append(part)
        if isinstance(part, int):
            continue
        if isinstance(node, type) and issubclass(node, BaseModel):
            holder = node
            field = node.model_fields.get(part)
            node = _model_of(field.annotation) if field else None
        else:
            node = None
    return tuple(kept), holder


def _model_of(annotation: Any) -> Any:
    """The model (or {tag: model} for a tagged union) an annotation holds, if any."""
    origin = get_origin(annotation)
    if origin is typing.Annotated:
        return _model_of(get_args(annotation)[0])
    if origin in (list, dict):
        return _model_of(get_args(annotation)[-1])
    if origin in (typing.Union, types.UnionType):
        members = [_model_of(a) for a in get_args(annotation) if a is not type(None)]
        models = [m for m in members if isinstance(m, type)]
        if len(models) == 1:
            return models[0]
        tags = {_tag(m): m for m in models}
        return tags if None not in tags else None
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _tag(model: type[BaseModel]) -> str | None:
    field = model.model_fields.get("type")
    args = get_args(field.annotation) if field else ()
    return str(args[0]) if args else None
