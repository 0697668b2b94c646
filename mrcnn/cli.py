"""How our command lines end: a user's mistake is one line and exit status 2; a bug keeps its traceback.

    def main(argv=None):
        args = cli.parse_args(build_parser(), argv)  # adds --debug to the parser and every subcommand
        return cli.run(args.func, args)             # errors reported under args.cli_prog, e.g. "pbc.py train"

    with cli.reported_errors("train_shapes.py train"):  # the same, for a command that is not one function
        ...

An *expected* error is printed as ONE line on stderr in argparse's style, `pbc.py train: error: <message>`, and the
program exits with status 2, as argparse does for a bad flag. Expected are:
- UsageError (a ValueError) raised anywhere: a flag value or a combination of inputs that cannot work, found by the
  command itself. A new subcommand needs nothing else: raise UsageError, ValueError or FileNotFoundError with a
  message that names the flag, file or field and what would be valid.
- SystemExit with a message (`raise SystemExit("...")`): the message, prefixed, exit status 2.
- ValueError, OSError (FileNotFoundError, PermissionError, "no space left", ...) and FloatingPointError (the
  NaN guard of training) raised by a `raise` statement in our own code: a module of `mrcnn` or `samples`, or the
  script being run. Our checks raise these with messages naming the file, field or value. An OSError also counts
  when our code called a builtin or the standard library that raised it (open, os.makedirs, shutil): a missing
  file, a permission or a full disk is never a bug of ours.
Everything else is *unexpected* and keeps Python's traceback (exit status 1), so that real bugs are not hidden:
other types (TypeError, KeyError, IndexError, RuntimeError, AssertionError, TensorFlow's errors), and a ValueError
raised inside numpy, Keras, TensorFlow or the standard library, even when Keras filters its own frames out of the
traceback: our innermost frame is then a call, not a `raise`. A ValueError re-raised from a worker process is
raised again by the standard library, so it counts as unexpected too.
KeyboardInterrupt (Ctrl-C) prints `<prog>: interrupted` and exits with status 130, without a traceback.
`--debug`, or the environment variable MRCNN_DEBUG set to anything but "", "0", "false", "no" or "off", shows the
traceback of expected errors too. A command that runs another command line in-process (`pbc.py annotate` runs
`samples.pbc.annotate.main`) reports its errors once, under the outer name.

Shape shorthand: none (no arrays).
"""

import argparse
import atexit
import contextlib
import linecache
import os
import re
import subprocess
import sys
import time

DEBUG_ENV = "MRCNN_DEBUG"
EXPECTED_TYPES = (ValueError, OSError, FloatingPointError)
OWN_PACKAGES = ("mrcnn", "samples")
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
_RAISE = re.compile(r"(^|[:;]\s*)raise\b")
_nesting = 0  # reported_errors blocks currently open: only the outermost reports


class UsageError(ValueError):
    """A command-line input that cannot work, found by the command rather than by argparse (for example a folder
    without the annotations it needs). Reported as one line with exit status 2; the message names the flag."""


def debug_requested(args=None):
    """True when `args.debug` is set (the --debug flag) or the environment variable MRCNN_DEBUG asks for it."""
    if getattr(args, "debug", False):
        return True
    return os.environ.get(DEBUG_ENV, "").strip().lower() not in ("", "0", "false", "no", "off")


def add_debug_flag(parser, _subcommand=False):
    """Add --debug to `parser` and to each of its subcommands (so it may come before or after the command name),
    and record each parser's prog as the default `cli_prog`. Calling it twice changes nothing."""
    if "--debug" not in parser._option_string_actions:
        default = {"default": argparse.SUPPRESS} if _subcommand else {}  # do not reset a --debug given before
        parser.add_argument("--debug", action="store_true", **default,
                            help=f"on an error, show the full traceback (or set {DEBUG_ENV}=1)")
    parser.set_defaults(cli_prog=parser.prog)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):  # aliases map to the same parser
                add_debug_flag(sub, _subcommand=True)
    return parser


def parse_args(parser, argv=None):
    """`parser.parse_args(argv)` after add_debug_flag: the namespace has `debug` and `cli_prog`."""
    return add_debug_flag(parser).parse_args(argv)


def run(command, args):
    """`command(args)` with its expected errors reported (see the module notes) under `args.cli_prog`."""
    with reported_errors(getattr(args, "cli_prog", None) or _default_prog(), debug_requested(args)):
        return command(args)


def _default_prog():
    return os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "python"


def _frames(traceback):
    """[(module name, file name, line number)] of a traceback, innermost first."""
    frames = []
    while traceback is not None:
        frame = traceback.tb_frame
        frames.append((frame.f_globals.get("__name__") or "", frame.f_code.co_filename, traceback.tb_lineno))
        traceback = traceback.tb_next
    return frames[::-1]


def _ours(module):
    return module == "__main__" or module.split(".")[0] in OWN_PACKAGES


def is_expected(error):
    """Whether `error` is a user's mistake found by our checks (one line, exit status 2) rather than a bug."""
    if isinstance(error, UsageError):
        return True
    if not isinstance(error, EXPECTED_TYPES):
        return False
    frames = _frames(error.__traceback__)
    if isinstance(error, OSError):  # open(), os.makedirs() and shutil called by our code
        frames = [f for f in frames if f[0].split(".")[0] not in sys.stdlib_module_names]
        return bool(frames) and _ours(frames[0][0])
    if not frames or not _ours(frames[0][0]):
        return False
    _, filename, lineno = frames[0]
    return bool(_RAISE.search(linecache.getline(filename, lineno).strip()))


def message_of(error):
    """The text of an error on one line: an OSError's description and file name without "[Errno N]"."""
    if isinstance(error, OSError) and error.strerror:
        text = error.strerror
        for name in (error.filename, error.filename2):
            if name is not None and os.fspath(name) not in text:
                text += f": {os.fspath(name)}"
    else:
        text = str(error)
    text = " ".join(line.strip() for line in text.splitlines() if line.strip())
    return text or type(error).__name__


def report(prog, message, status=EXIT_USAGE):
    """Print `<prog>: error: <message>` on stderr and exit with `status`."""
    sys.stdout.flush()
    print(f"{prog}: error: {message}", file=sys.stderr, flush=True)
    raise SystemExit(status) from None


@contextlib.contextmanager
def reported_errors(prog, debug=False):
    """Report the expected errors of the block as one line and exit status 2 (see the module notes).

    prog: the name the line starts with, argparse's prog ("pbc.py train", "python -m mrcnn.evaluation").
    debug: show tracebacks instead (also when MRCNN_DEBUG is set).
    """
    global _nesting
    debug = debug or debug_requested()
    _nesting += 1
    try:
        yield
    except KeyboardInterrupt:
        if debug or _nesting > 1:
            raise
        sys.stdout.flush()
        print(f"\n{prog}: interrupted", file=sys.stderr, flush=True)
        raise SystemExit(EXIT_INTERRUPTED) from None
    except SystemExit as exit_:
        if _nesting > 1 or not isinstance(exit_.code, str):
            raise
        report(prog, " ".join(exit_.code.split()) or "exit")
    except Exception as error:
        if debug or _nesting > 1 or not is_expected(error):
            raise
        report(prog, message_of(error))
    finally:
        _nesting -= 1


# ---- what a command prints on its way --------------------------------------------------------------------------------

def progress_line(what):
    """A `progress(done, total, start_time)` callback printing `<what> done/total  N s elapsed, ~M s left` on stderr:
    redrawn in place on a terminal, every tenth of the work (and the last item) in a log file."""
    def progress(done, total, start):
        tty = sys.stderr.isatty()
        if not tty and done != total and done % max(1, total // 10):
            return
        elapsed = time.time() - start
        eta = elapsed / done * (total - done) if done else 0.0
        print(f"{chr(13) if tty else ''}{what} {done}/{total}  {elapsed:.0f} s elapsed, ~{eta:.0f} s left",
              end="" if tty else "\n", file=sys.stderr, flush=True)
        if tty and done == total:
            print(file=sys.stderr)
    return progress


# TensorFlow's C++ side writes absl log lines to the process's stderr (file descriptor 2), bypassing Python:
# "I0000 00:00:1796612790.066596    4446 port.cc:153] oneDNN custom operations are on ...", its CPU-feature notice,
# and during training Grappler's "E0000 ... Error in PredictCost() for the op ..." lines, none of which a user can act
# on. TF_CPP_MIN_LOG_LEVEL does not hide those written before absl's logging is initialised.
NATIVE_LOG_FILTER = r"""
import re, signal, sys
signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the command; this filter ends when its input does
native = re.compile(rb"^(?:[IWE]\d{4} [\d:.]+ +\d+ [\w./-]+:\d+\] "
                    rb"|WARNING: All log messages before absl::InitializeLog\(\) is called"
                    rb"|To enable the following instructions: )")
for line in sys.stdin.buffer:
    if not native.match(line):
        sys.stdout.buffer.write(line)
        sys.stdout.buffer.flush()
"""
_native_filter = None


def quiet_native_logs():
    """Hide TensorFlow's C++ log lines (see NATIVE_LOG_FILTER) from the rest of this process and its children.

    File descriptor 2 is sent through a small filter process that drops those lines and passes everything else on
    (a native crash's message, a child process's traceback); Python's own stderr (`sys.stderr`: logging, warnings,
    progress, tracebacks) is moved to a copy of the original descriptor, so it reaches the terminal unfiltered and
    still knows it is one. For command lines, before TensorFlow is imported and before logging is set up; called
    again it does nothing, and it does nothing on Windows. `--verbose` on our command lines skips it.
    """
    global _native_filter
    if _native_filter is not None or os.name != "posix":
        return
    sys.stderr.flush()
    original = os.dup(2)
    _native_filter = subprocess.Popen([sys.executable, "-c", NATIVE_LOG_FILTER], stdin=subprocess.PIPE,
                                      stdout=original, stderr=original)
    os.dup2(_native_filter.stdin.fileno(), 2)
    _native_filter.stdin.close()
    sys.stderr = os.fdopen(original, "w", buffering=1, encoding=getattr(sys.stderr, "encoding", None) or "utf-8",
                           errors="backslashreplace")

    @atexit.register
    def _drain():
        os.dup2(original, 2)  # the filter sees the end of its input once the children are gone too
        try:
            _native_filter.wait(timeout=2)
        except subprocess.TimeoutExpired:
            pass

