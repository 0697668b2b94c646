"""Running our command lines in a subprocess and checking how they end (used by the command-line error tests)."""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRACEBACK = "Traceback (most recent call last)"


def run_cli(*argv, env=None, timeout=300):
    """`python *argv` from the repository root: CompletedProcess with text stdout / stderr.

    MRCNN_DEBUG is removed from the environment unless `env` sets it; TensorFlow's C++ logging is silenced.
    """
    full_env = {k: v for k, v in os.environ.items() if k != "MRCNN_DEBUG"}
    full_env.update({"TF_CPP_MIN_LOG_LEVEL": "3", "MPLBACKEND": "Agg"}, **(env or {}))
    return subprocess.run([sys.executable, *argv], cwd=ROOT, env=full_env, capture_output=True, text=True,
                          timeout=timeout)


def assert_usage_error(result, prog, *names):
    """Exit status 2, no traceback, and the last line of stderr is the only `<prog>: error: ...` line and contains
    each of `names`. Returns that line."""
    assert TRACEBACK not in result.stderr, result.stderr
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert lines, "nothing on stderr"
    errors = [line for line in lines if ": error: " in line]
    assert errors == [lines[-1]], result.stderr
    assert lines[-1].startswith(f"{prog}: error: "), lines[-1]
    for name in names:
        assert str(name) in lines[-1], (name, lines[-1])
    return lines[-1]


def assert_traceback(result, exception):
    """Exit status 1 and Python's traceback ending in `exception` (its type name), without our error line."""
    assert result.returncode == 1, (result.returncode, result.stderr)
    assert TRACEBACK in result.stderr, result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith(exception), result.stderr
    assert ": error: " not in result.stderr, result.stderr
