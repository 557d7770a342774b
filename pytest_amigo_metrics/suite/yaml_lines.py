"""YAML loading that remembers where every key and list item stands (1-based lines)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import yaml


class LineDict(dict[Any, Any]):
    line: int = 0
    key_lines: dict[Any, int]


class LineList(list[Any]):
    line: int = 0
    item_lines: list[int]


class DuplicateKeyError(yaml.MarkedYAMLError):
    pass


# libyaml's parser when PyYAML has it (about ten times faster on large suites).
_BaseLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _LineLoader(_BaseLoader):  # type: ignore[valid-type, misc]
    pass


MERGE_TAG = "tag:yaml.org,2002:merge"
MAX_VALUES = 200_000  # values in a document once aliases are expanded


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> LineDict:
    own = sum(1 for key, _ in node.value if key.tag != MERGE_TAG)
    loader.flatten_mapping(node)  # `<<: *base` entries first, then the mapping's own
    merged = len(node.value) - own
    result = LineDict()
    result.line = node.start_mark.line + 1
    result.key_lines = {}
    own_keys: set[Any] = set()
    for index, (key_node, value_node) in enumerate(node.value):
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str | int | float | bool) and key is not None:
            raise DuplicateKeyError(
                problem="a key must be a plain value such as a name, not a list or a mapping",
                problem_mark=key_node.start_mark,
            )
        is_own = index >= merged
        if is_own and key in own_keys:
            raise DuplicateKeyError(
                problem=f"duplicate key {key!r} (first at line {result.key_lines[key]})",
                problem_mark=key_node.start_mark,
            )
        if is_own:
            own_keys.add(key)
        result.key_lines[key] = key_node.start_mark.line + 1
        result[key] = loader.construct_object(value_node, deep=True)  # own keys override
    return result


def expanded_size(document: Any, cap: int = MAX_VALUES) -> int:
    """How many values the document holds with every alias expanded, counted up to `cap`
    without expanding anything: an alias is the same object, so each is sized once."""
    sizes: dict[int, int] = {}
    stack: list[tuple[Any, bool]] = [(document, False)]
    while stack:
        value, children_done = stack.pop()
        if id(value) in sizes:
            continue
        children = list(value.values()) if isinstance(value, dict) else value
        if not isinstance(value, dict | list):
            sizes[id(value)] = 1
        elif children_done:
            sizes[id(value)] = min(cap + 1, 1 + sum(sizes[id(c)] for c in children))
        else:
            stack.append((value, True))
            stack.extend((c, False) for c in children if id(c) not in sizes)
    return sizes[id(document)]


def _construct_sequence(loader: _LineLoader, node: yaml.SequenceNode) -> LineList:
    result = LineList(loader.construct_object(child, deep=True) for child in node.value)
    result.line = node.start_mark.line + 1
    result.item_lines = [child.start_mark.line + 1 for child in node.value]
    return result


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def load_with_lines(text: str) -> Any:
    """Parse YAML text; mappings and sequences carry line numbers. Raises yaml.YAMLError."""
    return yaml.load(text, Loader=_LineLoader)


def line_of(document: Any, loc: Sequence[int | str]) -> int:
    """The line of the deepest node along `loc` that the document still has."""
    line = getattr(document, "line", 1) or 1
    node = document
    for part in loc:
        if isinstance(node, LineDict) and part in node:
            line = node.key_lines.get(part, line)
            node = node[part]
        elif isinstance(node, LineList) and isinstance(part, int) and 0 <= part < len(node):
            line = node.item_lines[part]
            node = node[part]
        else:
            break
    return line
