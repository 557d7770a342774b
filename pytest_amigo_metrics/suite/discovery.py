"""Where a project's suite files are, whatever subset of them pytest collects.

Metrics belong to the project, not to the files of one run: `pytest one.amigo.yaml`, a node id,
`--lf` or `--sw` must see the metrics declared in files they do not collect. The search covers
`testpaths` (or the rootdir when it is not set), the paths given on the command line, and, like
conftest.py files, the directories from each given path up to the rootdir. It honours pytest's
own ignore rules (norecursedirs, --ignore, virtualenvs, collect_ignore) through the
`pytest_ignore_collect` hook, and the suite file pattern, and leaves out repositories nested in
the project (a vendored checkout of another project, a submodule).
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import pytest

# A top-level `metrics:` key (block style), or a document written as one flow mapping.
_DECLARES_METRICS = re.compile(r"(?m)^(?:[\"']?metrics[\"']?[ \t]*:|\{)")


def matches(name: str, patterns: Iterable[str]) -> bool:
    return any(fnmatch.fnmatch(name, pattern) for pattern in patterns)


def may_declare_metrics(path: Path) -> bool:
    """A cheap look at the text before parsing: most test files declare no metrics."""
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        return True  # unreadable: loading it reports why, rather than hiding it
    except OSError:
        return False
    return "\x00" in text or _DECLARES_METRICS.search(text) is not None


def search_roots(config: pytest.Config) -> tuple[list[Path], list[Path]]:
    """(directories searched recursively, directories whose own files are read)."""
    rootdir = config.rootpath
    testpaths = [rootdir / p for p in config.getini("testpaths")]
    deep = [p for p in testpaths if p.exists()] or [rootdir]
    shallow: list[Path] = []
    for arg in config.args:
        path = Path(config.invocation_params.dir, arg.split("::", 1)[0]).resolve()
        if not path.exists():
            continue
        folder = path if path.is_dir() else path.parent
        deep.append(folder)
        while folder.is_relative_to(rootdir) and folder != rootdir:
            folder = folder.parent
            shallow.append(folder)
    return deep, shallow


def find_suite_files(
    config: pytest.Config, patterns: list[str], ignored: Callable[[Path], bool]
) -> list[Path]:
    """Every suite file of the project, sorted, so the first declaration is the same in every
    run, whichever process looks."""
    deep, shallow = search_roots(config)
    found: set[Path] = set()
    for root in dict.fromkeys(deep):
        found.update(_walk(root, patterns, ignored))
    for folder in dict.fromkeys(shallow):
        found.update(_files_in(folder, patterns, ignored))
    return sorted(found)


def _walk(root: Path, patterns: list[str], ignored: Callable[[Path], bool]) -> Iterator[Path]:
    if root.is_file():
        if matches(root.name, patterns):
            yield root
        return
    for current, dirs, files in os.walk(root):
        here = Path(current)
        dirs[:] = sorted(d for d in dirs if not ignored(here / d) and not _other_repo(here / d))
        for name in files:
            if matches(name, patterns) and not ignored(here / name):
                yield here / name


def _other_repo(folder: Path) -> bool:
    """A repository inside the project (a vendored checkout, a submodule: its own `.git`) is
    another project, with metrics of its own; it is searched only when a path inside it is
    given or listed in testpaths."""
    return (folder / ".git").exists()


def _files_in(folder: Path, patterns: list[str], ignored: Callable[[Path], bool]) -> Iterator[Path]:
    try:
        entries = list(folder.iterdir())
    except OSError:
        return
    for path in entries:
        if path.is_file() and matches(path.name, patterns) and not ignored(path):
            yield path


def ignored_by_pytest(config: pytest.Config) -> Callable[[Path], bool]:
    def ignored(path: Path) -> bool:
        return bool(config.hook.pytest_ignore_collect(collection_path=path, config=config))

    return ignored
