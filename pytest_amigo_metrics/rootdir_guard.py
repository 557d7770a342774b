"""An option's value that pytest took for a test path when it chose the rootdir.

pytest chooses the rootdir (and the ini file) from the command line's paths before it loads
plugins, so `--amigo-store /ci/cache/results.sqlite3` is one option to this plugin but, to that
first look, an option pytest does not know followed by a path that exists. When that path moves
the rootdir, the project's ini file is passed over and node ids change: a usage error that says
to write `--amigo-store=/ci/cache/results.sqlite3`.
"""

from __future__ import annotations

import os
import shlex
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from .settings import OPTIONS


def rootdir_problem(config: pytest.Config) -> str | None:
    """Why the rootdir is not what the command line meant (None when it is)."""
    params = config.invocation_params
    flags = {option.flag for option in OPTIONS}
    # pytest reads PYTEST_ADDOPTS before the command line, for the rootdir too.
    given = [*shlex.split(os.environ.get("PYTEST_ADDOPTS", "")), *params.args]
    stray = [
        (flag, value)
        for flag, value in pairwise(given)
        if flag in flags and (params.dir / value).exists()
    ]
    if not stray:
        return None
    meant = _rootdir_without(config, {value for _, value in stray})
    if meant is None or meant == config.rootpath:
        return None
    flag, value = stray[0]
    return (
        f"pytest chose the rootdir {config.rootpath} (not {meant}) because it read {value!r}, "
        f"the value of {flag}, as a test path: it chooses the rootdir before it knows this "
        f"plugin's options. Write {flag}={value}"
    )


def _rootdir_without(config: pytest.Config, values: set[str]) -> Path | None:
    """The rootdir pytest would have chosen without those values; None when pytest's own
    function for it (private) is not there as expected."""
    try:
        from _pytest.config.findpaths import determine_setup
    except ImportError:
        return None
    option: Any = config.option
    args = [a for a in option.file_or_dir or [] if a not in values]
    try:
        found = determine_setup(
            inifile=option.inifilename,
            override_ini=option.override_ini,
            args=args,
            rootdir_cmd_arg=option.rootdir or None,
            invocation_dir=config.invocation_params.dir,
        )
    except TypeError:  # another pytest's signature
        return None
    return Path(found[0])
