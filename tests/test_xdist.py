"""Under pytest-xdist: workers run items, the controller prints one summary, one run id."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import HANGING_AGENT, Suite


def test_parallel_run_shares_one_run_id_and_one_summary(suite: Suite) -> None:
    suite.standard()
    for index in range(4):
        suite.unit_test(file=f"t{index}.amigo.yaml", name=f"case {index}", runs=2)
    suite.unit_test(
        file="failing.amigo.yaml",
        name="cold agent",
        script='["you are cold"]',
    )
    result = suite.pytester.runpytest_subprocess("-p", "xdist", "-n", "2")
    result.assert_outcomes(passed=4, failed=1)
    out = result.stdout.str()
    assert out.count("== amigo metrics ==") == 1
    for index in range(4):
        result.stdout.fnmatch_lines(
            [f"PASSED  t{index}.amigo.yaml::case {index}  2/2 runs passed*"]
        )
    result.stdout.fnmatch_lines(["FAILED  failing.amigo.yaml::cold agent  0/1 runs passed*"])
    rows = suite.rows(
        "SELECT DISTINCT simulation_unit_test_set_run_id AS id FROM evaluation_results"
    )
    assert len(rows) == 1
    assert rows[0]["id"] in out
    metrics = suite.rows("SELECT name, latest_version FROM metrics")
    assert {r["latest_version"] for r in metrics} == {1}, "registered once, not once per worker"
    assert len(suite.rows("SELECT * FROM evaluation_results")) == 9


def test_junit_xml_carries_the_metric_properties(suite: Suite) -> None:
    suite.standard()
    suite.unit_test(runs=2)
    suite.pytester.runpytest("-p", "xdist", "-n", "2", "--junitxml=out.xml").assert_outcomes(
        passed=1
    )
    xml = (suite.path / "out.xml").read_text()
    assert '<property name="amigo.pass_rate" value="2/2"' in xml
    assert '<property name="amigo.metric.Empathy Score" value="v1: 10, 10"' in xml
    assert '<property name="amigo.model.judge" value="offline/judge"' in xml


def test_quiet_summary_details_only_what_did_not_pass(suite: Suite) -> None:
    suite.standard()
    suite.unit_test(name="good")
    suite.unit_test(file="bad.amigo.yaml", name="cold", script='["you are cold"]')
    result = suite.pytester.runpytest("-q")
    result.assert_outcomes(passed=1, failed=1)
    out = result.stdout.str()
    summary = out[out.index("amigo metrics") : out.index("short test summary info")]
    assert (
        "PASSED  tests.amigo.yaml::good  1/1 runs passed (100 %, 95 % CI 21\u2013100 %), required 100 %"
        in summary
    )
    assert "FAILED  bad.amigo.yaml::cold" in summary
    assert summary.count("Empathy Score v1") == 1, "metric lines only for the failed test"


def test_binding_errors_reach_the_controller_and_fail_the_session(suite: Suite) -> None:
    suite.standard()
    suite.unit_test(name="good", expectations=["{metric: Outcome, expect: resolved}"])
    suite.unit_test(
        file="bad.amigo.yaml", name="bad", expectations=["{metric: Outcome, expect: nope}"]
    )
    result = suite.pytester.runpytest("-p", "xdist", "-n", "2")
    assert result.ret != 0
    result.stdout.fnmatch_lines(["bad.amigo.yaml:*.expect: unknown category 'nope'*"])


EXIT_HANDLERS = """
import atexit, logging, os, pathlib

def _who(config):
    return config.workerinput["workerid"] if hasattr(config, "workerinput") else "controller"

def _note(who, when):
    def write():
        with open(pathlib.Path(__file__).with_name("exits.log"), "a") as out:
            out.write(f"{who} {when}\\n")
    return write

def pytest_configure(config):
    atexit.register(_note(_who(config), "registered-first"))
    if hasattr(config, "workerinput"):
        handler = logging.FileHandler(f"worker-{_who(config)}.log")
        logging.getLogger("exit-check").addHandler(handler)

def pytest_unconfigure(config):
    logging.getLogger("exit-check").warning("last words of %s", os.getpid())
    atexit.register(_note(_who(config), "registered-last"))
"""


def test_workers_run_every_exit_handler_once_and_flush_their_logs(suite: Suite) -> None:
    """A worker that loaded litellm ends with os._exit, after the exit handlers registered
    before and after the plugin's own, each once, and with logging's files flushed."""
    suite.standard()
    for index in range(4):
        suite.unit_test(file=f"t{index}.amigo.yaml", name=f"case {index}")
    suite.write("conftest.py", EXIT_HANDLERS)
    result = suite.pytester.runpytest_subprocess("-p", "xdist", "-n", "2")
    result.assert_outcomes(passed=4)
    lines = sorted((suite.path / "exits.log").read_text().splitlines())
    expected = [
        f"{who} {when}"
        for who in ("controller", "gw0", "gw1")
        for when in ("registered-first", "registered-last")
    ]
    assert lines == expected
    for worker in ("gw0", "gw1"):
        assert "last words of" in (suite.path / f"worker-{worker}.log").read_text()


LEFT_OPEN = """
import pathlib

OPEN = {}

def pytest_configure(config):
    if hasattr(config, "workerinput"):
        name = config.workerinput["workerid"]
        OPEN["file"] = open(pathlib.Path(__file__).with_name(f"left-open-{name}.txt"), "w")

def pytest_unconfigure(config):
    if "file" in OPEN:
        OPEN["file"].write("written, never flushed, never closed")
"""


def test_a_worker_with_a_file_left_open_ends_the_usual_way_and_loses_nothing(
    suite: Suite,
) -> None:
    """Only Python's usual end writes what sits in the buffer of a file nobody closed."""
    suite.standard()
    for index in range(2):
        suite.unit_test(file=f"t{index}.amigo.yaml", name=f"case {index}")
    suite.write("conftest.py", LEFT_OPEN)
    suite.pytester.runpytest_subprocess("-p", "xdist", "-n", "2").assert_outcomes(passed=2)
    for worker in ("gw0", "gw1"):
        text = (suite.path / f"left-open-{worker}.txt").read_text()
        assert text == "written, never flushed, never closed"


FINALIZED = """
import os, pathlib


class Finalized:
    \"\"\"Notes in a file when the interpreter's usual end frees it; os._exit frees nothing.\"\"\"

    def __init__(self, path):
        self.path, self.os = str(path), os

    def __del__(self):
        fd = self.os.open(self.path, self.os.O_WRONLY | self.os.O_CREAT | self.os.O_APPEND)
        self.os.write(fd, b"finalized\\n")
        self.os.close(fd)


KEPT = []


def pytest_configure(config):
    if hasattr(config, "workerinput"):
        name = config.workerinput["workerid"]
        KEPT.append(Finalized(pathlib.Path(__file__).with_name(f"finalized-{name}.txt")))
"""


@pytest.mark.parametrize("fast_exit", ["1", "0"])
def test_workers_whose_output_goes_to_files_end_at_once(
    suite: Suite, monkeypatch: pytest.MonkeyPatch, fast_exit: str
) -> None:
    """pytester sends the output of the run, the workers' included, to files, as
    `pytest ... > log 2>&1` does: standard streams do not keep a worker from ending at once
    (its objects are never freed one by one), unless AMIGO_METRICS_WORKER_FAST_EXIT=0."""
    monkeypatch.setenv("AMIGO_METRICS_WORKER_FAST_EXIT", fast_exit)
    suite.standard()
    for index in range(2):
        suite.unit_test(file=f"t{index}.amigo.yaml", name=f"case {index}")
    suite.write("conftest.py", FINALIZED)
    suite.pytester.runpytest_subprocess("-p", "xdist", "-n", "2").assert_outcomes(passed=2)
    finalized = sorted(p.name for p in suite.path.glob("finalized-*.txt"))
    assert finalized == ([] if fast_exit == "1" else ["finalized-gw0.txt", "finalized-gw1.txt"])


def test_no_file_open_for_writing_in_a_plain_process(tmp_path: Path) -> None:
    from pytest_amigo_metrics.runs.worker_exit import files_open_for_writing

    if not Path("/proc/self/fd").exists():
        pytest.skip("needs /proc")
    # pytest's own capture may hold temporary files open: compare before and during
    before = files_open_for_writing()
    with open(tmp_path / "f.txt", "w"):
        assert files_open_for_writing()
    with open(tmp_path / "f.txt"):
        assert files_open_for_writing() == before, "a file open for reading does not count"


# In the workers, execnet's own way out is left out: asked to end, it waits 5 s, then sends
# its process SIGINT. Here the workers are interrupted only if the controller passes Ctrl-C on
# (xdist's controller kills them after 10 s otherwise).
WITHOUT_EXECNET_S_INTERRUPT = """
import os

def pytest_configure(config):
    if hasattr(config, "workerinput"):
        from execnet import gateway_base

        def wait_only(self):
            self._execpool.trigger_shutdown()
            self._execpool.waitall(60.0)
            os._exit(1)

        gateway_base.WorkerGateway._terminate_execution = wait_only
"""


@pytest.mark.parametrize("to", ["the controller alone", "the process group"])
def test_ctrl_c_reaches_the_workers_at_once(suite: Suite, to: str) -> None:
    """A Ctrl-C sent to the controller alone (an IDE's stop button, `kill -INT`) reaches the
    busy workers at once, as a terminal's reaches the whole group; a worker that gets both
    ends as cleanly as one that gets one."""
    import os
    import signal
    import subprocess
    import sys
    import time

    suite.standard()
    suite.write("agent.py", HANGING_AGENT)
    suite.write("conftest.py", WITHOUT_EXECNET_S_INTERRUPT)
    for index in range(2):
        suite.unit_test(file=f"t{index}.amigo.yaml", name=f"case {index}")
    process = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "xdist", "-n", "2"],
        cwd=suite.path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # a group of its own, as a terminal's foreground job
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.time() + 60
    while not (suite.path / "started").exists() and time.time() < deadline:
        time.sleep(0.05)
    assert (suite.path / "started").exists(), "an agent was called"
    interrupted = time.time()
    if to == "the controller alone":
        process.send_signal(signal.SIGINT)
    else:
        os.killpg(process.pid, signal.SIGINT)
    out, _ = process.communicate(timeout=60)
    took = time.time() - interrupted
    assert took < 10, f"exited {took:.1f} s after Ctrl-C\n{out}"
    assert process.returncode == 2, out
    assert "KeyboardInterrupt" in out
    assert "Traceback" not in out and "INTERNALERROR" not in out, out


def test_a_worker_hears_ctrl_c_once_and_stays_deaf_to_it_on_its_way_out() -> None:
    """An xdist worker may get Ctrl-C twice, from the terminal and from its controller: the
    second must not interrupt the way out (writing results, closing the store)."""
    import os
    import signal

    from pytest_amigo_metrics.runs import ctrl_c

    before = signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        undo = ctrl_c.track(once=True)
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            signal.pthread_sigmask(signal.SIG_BLOCK, [])  # lets the handler run now
        os.kill(os.getpid(), signal.SIGINT)  # the repeat: ignored
        signal.pthread_sigmask(signal.SIG_BLOCK, [])
        assert ctrl_c.was_pressed()
        undo()
        assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, before)
        ctrl_c._received.clear()  # later sessions in this process saw no Ctrl-C


def test_the_controller_finds_its_execnet_workers_and_no_other_child() -> None:
    import subprocess
    import sys
    import time

    from pytest_amigo_metrics.runs.xdist_interrupt import popen_bootstrapline, worker_pids

    # Started as execnet starts a worker: it waits for its first line on stdin.
    worker = subprocess.Popen([sys.executable, "-c", popen_bootstrapline], stdin=subprocess.PIPE)
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        found: list[int] = []
        for _ in range(100):  # until the child has replaced pytest's command line with its own
            found = worker_pids()
            if worker.pid in found:
                break
            time.sleep(0.05)
        assert worker.pid in found and other.pid not in found
    finally:
        worker.kill()
        other.kill()
        worker.wait()
        other.wait()
