"""Tests of mrcnn/cli.py: which errors are a user's mistake (one line, exit status 2) and which keep the traceback."""

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from mrcnn import cli
from mrcnn.cli import UsageError
from mrcnn.data.annotations import load_json
from mrcnn.training.checkpoints import find_last
from mrcnn.utils import compute_iou
from samples.pbc.datasets import paper_split

# A stand-in for one of our modules (its name starts with "mrcnn"), read from a real file so that the traceback's
# source lines are there, as they are for the real package.
FAKE_SOURCE = '''
import json


def raise_value_error():
    raise ValueError("Config.FIELD = 3: must be even")


def open_missing(path):
    with open(path) as f:
        return f.read()


def parse(text):
    return json.loads(text)


def conditional_raise():
    if True: raise ValueError("one-line if")


def int_of(text):
    return int(text)
'''


@pytest.fixture
def ours(tmp_path):
    path = tmp_path / "fake_ours.py"
    path.write_text(FAKE_SOURCE)
    spec = importlib.util.spec_from_file_location("mrcnn._fake_ours", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _caught(function, *args):
    try:
        function(*args)
    except BaseException as error:  # noqa: B036 - the error itself is what the test looks at
        return error
    raise AssertionError(f"{function.__name__} did not raise")


def test_our_raise_statements_are_expected(tmp_path, ours):
    (tmp_path / "empty.json").write_text("")
    assert cli.is_expected(_caught(load_json, tmp_path / "empty.json"))  # ValueError raised by mrcnn.data
    assert cli.is_expected(_caught(paper_split, tmp_path, ["a"], 0, (1, 2)))  # ValueError raised by samples.pbc
    assert cli.is_expected(_caught(find_last, str(tmp_path / "none"), "pbc"))  # FileNotFoundError by mrcnn
    assert cli.is_expected(_caught(ours.raise_value_error))
    assert cli.is_expected(_caught(ours.conditional_raise))
    assert cli.is_expected(_caught(ours.open_missing, tmp_path / "missing.txt"))  # open() called by our code
    assert cli.is_expected(UsageError("--x: bad"))  # wherever it comes from


def test_errors_that_are_not_our_checks_are_unexpected(ours):
    # numpy's broadcasting error surfaces in our frame, but on a computation, not on a raise statement
    error = _caught(compute_iou, np.zeros(4), np.zeros((2, 4)), 1.0, np.zeros(3))
    assert isinstance(error, ValueError) and not cli.is_expected(error)
    assert not cli.is_expected(_caught(ours.parse, "{"))  # json's ValueError, raised in the standard library
    assert not cli.is_expected(_caught(ours.int_of, "x"))  # a builtin's ValueError in our code: a bug
    assert not cli.is_expected(_caught(json.loads, "{"))  # not called from our code at all
    for error in (RuntimeError("x"), KeyError("x"), TypeError("x"), AssertionError("x")):
        assert not cli.is_expected(_caught(_raiser(error)))
    assert not cli.is_expected(_caught(_raiser(ValueError("raised in a test module, not in ours"))))


def _raiser(error):
    def raise_it():
        raise error
    return raise_it


def test_expected_error_is_one_line_and_status_2(capsys, ours):
    with pytest.raises(SystemExit) as info:
        with cli.reported_errors("pbc.py train"):
            ours.raise_value_error()
    assert info.value.code == 2
    assert capsys.readouterr().err == "pbc.py train: error: Config.FIELD = 3: must be even\n"


def test_oserror_line_names_the_file_without_errno(capsys, tmp_path, ours):
    with pytest.raises(SystemExit):
        with cli.reported_errors("tool"):
            ours.open_missing(tmp_path / "missing.txt")
    assert capsys.readouterr().err == f"tool: error: No such file or directory: {tmp_path / 'missing.txt'}\n"


def test_multi_line_message_becomes_one_line(capsys):
    with pytest.raises(SystemExit):
        with cli.reported_errors("tool"):
            raise UsageError("first line\n  second line\n")
    assert capsys.readouterr().err == "tool: error: first line second line\n"


def test_system_exit_with_a_message_goes_the_same_way(capsys):
    with pytest.raises(SystemExit) as info:
        with cli.reported_errors("pbc.py detect"):
            raise SystemExit("--images x: no image files")
    assert info.value.code == 2
    assert capsys.readouterr().err == "pbc.py detect: error: --images x: no image files\n"
    for code in (0, 1, None):  # exit codes pass through untouched
        with pytest.raises(SystemExit) as info:
            with cli.reported_errors("tool"):
                raise SystemExit(code)
        assert info.value.code == code
    assert capsys.readouterr().err == ""


def test_unexpected_errors_propagate(capsys):
    with pytest.raises(RuntimeError, match="a bug"):
        with cli.reported_errors("tool"):
            raise RuntimeError("a bug")
    with pytest.raises(ValueError, match="broadcast"):
        with cli.reported_errors("tool"):
            compute_iou(np.zeros(4), np.zeros((2, 4)), 1.0, np.zeros(3))
    assert capsys.readouterr().err == ""


def test_debug_flag_and_environment_show_the_traceback(monkeypatch, capsys, ours):
    monkeypatch.delenv(cli.DEBUG_ENV, raising=False)
    with pytest.raises(ValueError, match="must be even"):
        with cli.reported_errors("tool", debug=True):
            ours.raise_value_error()
    for value, shows in (("1", True), ("yes", True), ("0", False), ("false", False), ("", False)):
        monkeypatch.setenv(cli.DEBUG_ENV, value)
        with pytest.raises(ValueError if shows else SystemExit):
            with cli.reported_errors("tool"):
                ours.raise_value_error()
    assert capsys.readouterr().err.count("tool: error:") == 3


def test_keyboard_interrupt_exits_130_quietly(capsys):
    with pytest.raises(SystemExit) as info:
        with cli.reported_errors("pbc.py train"):
            raise KeyboardInterrupt
    assert info.value.code == 130
    assert capsys.readouterr().err.strip() == "pbc.py train: interrupted"


def test_nested_commands_report_once_under_the_outer_name(capsys):
    with pytest.raises(SystemExit) as info:
        with cli.reported_errors("pbc.py annotate"):
            with cli.reported_errors("python -m samples.pbc.annotate"):
                raise UsageError("--dataset x: not a directory")
    assert info.value.code == 2
    assert capsys.readouterr().err == "pbc.py annotate: error: --dataset x: not a directory\n"
    with pytest.raises(SystemExit):  # the nesting count went back to zero
        with cli.reported_errors("tool"):
            raise UsageError("again")
    assert capsys.readouterr().err == "tool: error: again\n"


def _parser():
    parser = argparse.ArgumentParser(prog="tool.py")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("one", "two"):
        p = sub.add_parser(name)
        p.add_argument("--n", type=int, default=0)
        p.set_defaults(func=lambda args: args.n)
    return parser


def test_debug_flag_before_or_after_the_command_and_the_prog_of_each_command(monkeypatch):
    monkeypatch.delenv(cli.DEBUG_ENV, raising=False)
    args = cli.parse_args(_parser(), ["one"])
    assert (args.debug, args.cli_prog) == (False, "tool.py one")
    assert cli.parse_args(_parser(), ["--debug", "two"]).debug is True
    args = cli.parse_args(_parser(), ["two", "--n", "3", "--debug"])
    assert (args.debug, args.cli_prog, cli.run(args.func, args)) == (True, "tool.py two", 3)
    parser = cli.add_debug_flag(cli.add_debug_flag(_parser()))  # twice: no "conflicting option" error
    assert parser.parse_args(["one", "--debug"]).debug is True


QUIET_CHILD = """
import os, sys
from mrcnn import cli
cli.quiet_native_logs()
cli.quiet_native_logs()  # a second call changes nothing
os.write(2, b"I0000 00:00:1796612790.066596    4446 port.cc:153] oneDNN custom operations are on.\\n")
os.write(2, b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\\n")
os.write(2, b"E0000 00:00:1796612790.1    4446 op_level_cost_estimator.cc:699] Error in PredictCost() for the op\\n")
os.write(2, b"a native line that is not a log line\\n")
print("python's own stderr", file=sys.stderr)
"""


def test_quiet_native_logs_drops_absl_lines_and_keeps_the_rest(tmp_path):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    done = subprocess.run([sys.executable, "-c", QUIET_CHILD], cwd=root, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    # the two streams reach the terminal on their own paths, so in either order
    assert sorted(done.stderr.splitlines()) == ["a native line that is not a log line", "python's own stderr"]


def test_progress_line_in_a_log_file_prints_every_tenth(capsys):
    progress = cli.progress_line("detecting")
    for done in range(1, 21):
        progress(done, 20, time.time())
    lines = capsys.readouterr().err.splitlines()
    assert [line.split("  ")[0] for line in lines] == [f"detecting {n}/20" for n in range(2, 21, 2)]
