"""Parses documented command lines with the scripts' own argparse parsers, without running the commands.

Run by tests/test_docs.py in a child process (scripts change sys.path and import TensorFlow; the test process stays
clean): a JSON list of jobs on stdin, a JSON list of results on stdout, in the same order.

    job:    {"target": "samples/pbc/pbc.py" | "-m mrcnn.evaluation", "argv": ["train", "--dataset", ...]}
    result: {"status": "parsed" | "help" | "error", "message": str, "options": {subcommand path: [option strings]}}

    job:    {"target": ..., "help_all": true}: `--help` of the script and of each of its subcommands
    result: {"status", "message", "options"} of the top-level --help, plus "subcommands": {path: {"status",
            "message"}} (the subcommands are read from the parser, not listed anywhere)

Each job runs the script as `python <script> <argv>` would (as __main__, its folder first on sys.path, sys.argv set),
but the first ArgumentParser.parse_args call is intercepted once it has parsed: the command stops there, before
doing any work. Flags that do not exist, values of the wrong type, a missing required option or an unknown
subcommand are argparse errors ("error"); `--help` ends in "help". Files named by the arguments need not exist
(argparse does not look at them). "options" lists every option string of the parser and of its subcommands,
keyed by subcommand path ("" for the top level, "train" for `pbc.py train`), so the test can check flags named in
prose and find the subcommands to ask for --help.
"""

import argparse
import contextlib
import io
import json
import os
import runpy
import sys


class Parsed(Exception):
    """Raised from the intercepted parse_args: the command line parsed; nothing runs."""


def options_of(parser, prefix=""):
    """{subcommand path: sorted option strings} of `parser` and its subparsers (argparse internals, read only)."""
    out = {prefix: sorted(s for action in parser._actions for s in action.option_strings)}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                out.update(options_of(sub, f"{prefix} {name}".strip()))
    return out


def run(target, argv):
    seen = {}
    original = argparse.ArgumentParser.parse_args

    def intercept(self, args=None, namespace=None):
        seen.setdefault("options", options_of(self))
        result = original(self, args, namespace)
        raise Parsed(result)

    module = target[3:] if target.startswith("-m ") else None
    path = None if module else os.path.abspath(target)
    saved_argv, saved_path = sys.argv, list(sys.path)
    sys.argv = [path or module] + list(argv)
    sys.path.insert(0, os.getcwd() if module else os.path.dirname(path))
    stdout, stderr = io.StringIO(), io.StringIO()
    argparse.ArgumentParser.parse_args = intercept
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            if module:
                runpy.run_module(module, run_name="__main__", alter_sys=True)
            else:
                runpy.run_path(path, run_name="__main__")
        status, message = "error", "the command ran to its end without parsing a command line"
    except Parsed:
        status, message = "parsed", ""
    except SystemExit as e:
        status = "help" if e.code in (0, None) else "error"
        message = "" if status == "help" else (stderr.getvalue().strip() or str(e.code))
    except Exception as e:  # an import error, a script that fails before parsing: report, do not stop the others
        status, message = "error", f"{type(e).__name__}: {e}"
    finally:
        argparse.ArgumentParser.parse_args = original
        sys.argv, sys.path[:] = saved_argv, saved_path
    return {"status": status, "message": message, "options": seen.get("options", {})}


def help_all(target):
    result = run(target, ["--help"])
    result["subcommands"] = {}
    for path in result["options"]:
        if path:
            sub = run(target, path.split() + ["--help"])
            result["subcommands"][path] = {"status": sub["status"], "message": sub["message"]}
    return result


MARKER = "=== docs_cli results ==="


def main():
    jobs = json.load(sys.stdin)
    results = [help_all(job["target"]) if job.get("help_all") else run(job["target"], job["argv"]) for job in jobs]
    sys.stdout.write(MARKER + "\n" + json.dumps(results) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
