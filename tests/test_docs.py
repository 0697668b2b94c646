"""The docs are exercised: every command they show parses, every flag they name exists, every link resolves.

Read: README.md, samples/pbc/README.md and docs/*.md (CHANGELOG.md for its links only: it is history).
- Commands: each line of a ```bash / ```sh / ```shell / ```console block (continuation lines joined, `# comments`,
  `$ ` prompts, `VAR=value` prefixes and `nice -n N` dropped). `python SCRIPT ...`, `python -m MODULE ...` and
  `SCRIPT.py ...` lines are parsed by the script's own argparse parser in a child process (tests/docs_cli.py):
  nothing runs, files named need not exist, but an unknown flag, a bad value or an unknown subcommand fails.
  Each script and each of its subcommands (read from its parser) must answer --help. `make TARGET` needs the
  target in the Makefile; other programs must be in EXTERNAL.
- Flags in prose: every `--flag` outside command blocks must be an option of a documented script (or of an
  external program, EXTERNAL_FLAGS); inside an inline code span that starts with a script (`pbc.py train --x`),
  an option of that script and subcommand.
- Python: every ```python block compiles, and every name it imports from mrcnn or samples exists.
- Links: every relative Markdown link names an existing file, and its #anchor a heading of that file.
"""

import ast
import glob
import importlib
import json
import os
import re
import shlex
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = ["README.md", "samples/pbc/README.md"] + sorted(
    os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, "docs", "*.md")))
LINKED = DOCS + (["CHANGELOG.md"] if os.path.isfile(os.path.join(ROOT, "CHANGELOG.md")) else [])
SHELL_LANGUAGES = {"bash", "sh", "shell", "console"}
# Programs a doc may show that are not ours: their command lines are not checked.
EXTERNAL = {"tensorboard", "pip", "export", "cd", "git", "mkdir", "cp", "docker", "curl"}
# Flags of those programs (and of the Python interpreter) that prose may name.
EXTERNAL_FLAGS = {"--logdir", "--no-deps", "--upgrade"}
FENCE = re.compile(r"^\s*(```|~~~)\s*([\w+-]*)")


def read(doc):
    with open(os.path.join(ROOT, doc), encoding="utf-8") as f:
        return f.read()


def split_fences(text):
    """(prose lines with fenced blocks blanked, [(language, first line number, [lines])])."""
    prose, blocks, block = [], [], None
    for number, line in enumerate(text.splitlines(), start=1):
        match = FENCE.match(line)
        if block is None and match:
            block = (match.group(2).lower(), number + 1, [], match.group(1))
            prose.append("")
        elif block is not None and line.strip().startswith(block[3]):
            blocks.append(block[:3])
            block = None
            prose.append("")
        elif block is not None:
            block[2].append(line)
            prose.append("")
        else:
            prose.append(line)
    return "\n".join(prose), blocks


def shell_lines(doc):
    """[(doc:line, command line)] of the doc's shell blocks, continuation lines joined."""
    out = []
    for language, first, lines in split_fences(read(doc))[1]:
        if language not in SHELL_LANGUAGES:
            continue
        pending, start = "", None
        for offset, line in enumerate(lines):
            stripped = line.strip()
            if stripped.startswith("$ "):
                stripped = stripped[2:]
            if start is None:
                start = first + offset
            if stripped.endswith("\\"):
                pending += stripped[:-1] + " "
                continue
            command = (pending + stripped).strip()
            if command and not command.startswith("#"):
                out.append((f"{doc}:{start}", command))
            pending, start = "", None
    return out


def classify(tokens):
    """("python", target, argv) | ("make", targets) | ("external", program) | ("unknown", program) | None."""
    while tokens and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", tokens[0]):
        tokens = tokens[1:]
    if tokens[:1] == ["nice"]:
        tokens = tokens[3:] if tokens[1:2] == ["-n"] else tokens[1:]
    if not tokens:
        return None
    head = tokens[0]
    if head == "make":
        return ("make", tokens[1:])
    if os.path.basename(head) in ("python", "python3"):
        if tokens[1:2] == ["-m"]:
            return ("python", "-m " + tokens[2], tokens[3:])
        return ("python", tokens[1], tokens[2:])
    if head.endswith(".py"):
        return ("python", head, tokens[1:])
    return ("external" if head in EXTERNAL else "unknown", head)


def commands(doc):
    """[(doc:line, classified command)] for every command of the doc's shell blocks."""
    out = []
    for where, line in shell_lines(doc):
        tokens = shlex.split(line, comments=True)
        piece = []
        for token in tokens + [";"]:
            if token in ("&&", "||", ";", "|"):
                if piece and classify(piece) is not None:
                    out.append((where, classify(piece)))
                piece = []
            else:
                piece.append(token)
    return out


ALL = [(where, command) for doc in DOCS for where, command in commands(doc)]
PYTHON = [(where, command[1], command[2]) for where, command in ALL if command[0] == "python"]
TARGETS = sorted({target for _, target, _ in PYTHON})
# A command line that must fail, so that the check is seen to fail on a flag that does not exist.
BROKEN = ("samples/pbc/pbc.py", ["train", "--dataset", "synthetic", "--no-such-flag"])


@pytest.fixture(scope="module")
def parsed():
    """{(target, tuple(argv)): result} and {target: --help result} from one child process (tests/docs_cli.py)."""
    jobs = [{"target": t, "help_all": True} for t in TARGETS]
    jobs += [{"target": t, "argv": argv} for _, t, argv in PYTHON] + [{"target": BROKEN[0], "argv": BROKEN[1]}]
    env = dict(os.environ, MPLBACKEND="Agg", TF_CPP_MIN_LOG_LEVEL="3", MRCNN_OFFLINE="1")
    child = subprocess.run([sys.executable, os.path.join(ROOT, "tests", "docs_cli.py")], input=json.dumps(jobs),
                           capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    assert child.returncode == 0, child.stderr[-3000:]
    results = json.loads(child.stdout.split("=== docs_cli results ===\n", 1)[1])
    helps = {job["target"]: r for job, r in zip(jobs, results) if job.get("help_all")}
    lines = {(job["target"], tuple(job["argv"])): r for job, r in zip(jobs, results) if not job.get("help_all")}
    return helps, lines


def test_docs_show_commands():
    assert TARGETS and "samples/pbc/pbc.py" in TARGETS and any(c[0] == "make" for _, c in ALL)


@pytest.mark.parametrize("where, target, argv", PYTHON, ids=[f"{w} {t}" for w, t, _ in PYTHON])
def test_documented_command_parses(parsed, where, target, argv):
    if not target.startswith("-m "):
        assert os.path.isfile(os.path.join(ROOT, target)), f"{where}: no script {target}"
    result = parsed[1][(target, tuple(argv))]
    assert result["status"] in ("parsed", "help"), f"{where}: {target} {' '.join(argv)}\n{result['message']}"


@pytest.mark.parametrize("target", TARGETS)
def test_documented_script_and_its_subcommands_answer_help(parsed, target):
    result = parsed[0][target]
    assert result["status"] == "help", result["message"]
    for path, sub in result["subcommands"].items():
        assert sub["status"] == "help", f"{target} {path} --help: {sub['message']}"


def test_a_flag_that_does_not_exist_fails_the_check(parsed):
    result = parsed[1][(BROKEN[0], tuple(BROKEN[1]))]
    assert result["status"] == "error" and "unrecognized arguments: --no-such-flag" in result["message"]


def test_only_known_programs(parsed):
    unknown = [f"{where}: {command[1]}" for where, command in ALL if command[0] == "unknown"]
    assert not unknown, "programs that are neither ours nor in EXTERNAL: " + ", ".join(unknown)


def makefile_targets():
    with open(os.path.join(ROOT, "Makefile"), encoding="utf-8") as f:
        return set(re.findall(r"^([A-Za-z0-9_.-]+)\s*:(?!=)", f.read(), flags=re.M))


def test_make_targets_named_in_docs_exist():
    targets = makefile_targets()
    named = [(where, t) for where, command in ALL if command[0] == "make" for t in command[1]]
    for doc in DOCS:
        named += [(doc, t) for t in re.findall(r"`make ([\w.-]+)", split_fences(read(doc))[0])]
    missing = [f"{where}: make {t}" for where, t in named if t not in targets]
    assert named and not missing, missing


def _scripts(helps):
    """{name as written in prose: (target, its options by subcommand path)}."""
    out = {}
    for target, result in helps.items():
        out[target] = out[os.path.basename(target)] = (target, result["options"])
    return out


def prose_flag_problems(doc, helps):
    prose = split_fences(read(doc))[0]
    known = {o for result in helps.values() for opts in result["options"].values() for o in opts} | EXTERNAL_FLAGS
    problems = [f"{doc}: {flag} is no option of a documented script"
                for flag in sorted(set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", prose))) if flag not in known]
    scripts = _scripts(helps)
    for span in re.findall(r"`([^`\n]+)`", prose):
        tokens = span.split()
        if tokens[:2] == ["python", "-m"] and len(tokens) > 2:
            tokens = ["-m " + tokens[2]] + tokens[3:]
        elif tokens[:1] in (["python"], ["python3"]):
            tokens = tokens[1:]
        if not tokens or tokens[0] not in scripts:
            continue
        target, options = scripts[tokens[0]]
        path = ""
        for token in tokens[1:]:
            if f"{path} {token}".strip() in options:
                path = f"{path} {token}".strip()
        allowed = set(options[path]) | set(options.get("", []))
        problems += [f"{doc}: `{span}`: {target} {path} has no {flag}" for flag in tokens
                     if flag.startswith("--") and flag.split("=")[0] not in allowed]
    return problems


@pytest.mark.parametrize("doc", DOCS)
def test_flags_named_in_prose_exist(parsed, doc):
    problems = prose_flag_problems(doc, parsed[0])
    assert not problems, "\n".join(problems)


PYTHON_BLOCKS = [(f"{doc}:{first}", "\n".join(lines)) for doc in DOCS
                 for language, first, lines in split_fences(read(doc))[1] if language == "python"]


@pytest.mark.parametrize("where, code", PYTHON_BLOCKS, ids=[w for w, _ in PYTHON_BLOCKS])
def test_python_examples_compile_and_import_what_exists(where, code):
    tree = ast.parse(code, filename=where)
    missing = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in ("mrcnn", "samples"):
            module = importlib.import_module(node.module)
            for alias in node.names:
                if not hasattr(module, alias.name):
                    try:
                        importlib.import_module(f"{node.module}.{alias.name}")
                    except ImportError:
                        missing.append(f"{node.module}.{alias.name}")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in ("mrcnn", "samples"):
                    importlib.import_module(alias.name)
    assert not missing, f"{where}: no such names: {missing}"


def slug(heading):
    """GitHub's anchor of a Markdown heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(doc):
    out, seen = set(), {}
    for line in split_fences(read(doc))[0].splitlines():
        match = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if match:
            base = slug(match.group(1))
            count = seen.get(base, 0)
            seen[base] = count + 1
            out.add(base if count == 0 else f"{base}-{count}")
    return out


def link_problems(doc):
    prose = re.sub(r"`[^`\n]*`", "", split_fences(read(doc))[0])
    problems = []
    for target in re.findall(r"\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)", prose):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
            continue
        file, _, anchor = target.partition("#")
        path = os.path.normpath(os.path.join(os.path.dirname(doc), file)) if file else doc
        if not os.path.exists(os.path.join(ROOT, path)):
            problems.append(f"{doc}: ({target}): no file {path}")
        elif anchor and path.endswith(".md") and anchor not in anchors(path):
            problems.append(f"{doc}: ({target}): no heading #{anchor} in {path}")
    return problems


@pytest.mark.parametrize("doc", LINKED)
def test_relative_links_resolve(doc):
    problems = link_problems(doc)
    assert not problems, "\n".join(problems)


def test_checks_catch_broken_links_and_anchors(tmp_path, monkeypatch):
    monkeypatch.setattr(sys.modules[__name__], "ROOT", str(tmp_path))
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("# Speed, precision & XLA\n## Speed, precision & XLA\n")
    (tmp_path / "README.md").write_text(
        "[ok](docs/a.md#speed-precision--xla) [second](docs/a.md#speed-precision--xla-1) [web](https://x.org/y)\n"
        "[gone](docs/b.md) [bad anchor](docs/a.md#speed) `[not a link](nowhere.md)`\n"
        "```bash\n[in a block](nowhere.md)\n```\n")
    assert link_problems("README.md") == ["README.md: (docs/b.md): no file docs/b.md",
                                          "README.md: (docs/a.md#speed): no heading #speed in docs/a.md"]


def test_command_extraction(tmp_path, monkeypatch):
    monkeypatch.setattr(sys.modules[__name__], "ROOT", str(tmp_path))
    (tmp_path / "README.md").write_text(
        "Intro\n"
        "```bash\n"
        "$ MPLBACKEND=Agg nice -n 19 .venv/bin/python samples/pbc/pbc.py train --dataset synthetic \\\n"
        "    --epochs 2   # a comment\n"
        "# a comment line\n"
        "make demo && python -m mrcnn.evaluation --help\n"
        "tensorboard --logdir logs\n"
        "```\n"
        "```python\n"
        "python not_a_command.py\n"
        "```\n")
    assert [where for where, _ in shell_lines("README.md")] == ["README.md:3", "README.md:6", "README.md:7"]
    assert [command for _, command in commands("README.md")] == [
        ("python", "samples/pbc/pbc.py", ["train", "--dataset", "synthetic", "--epochs", "2"]),
        ("make", ["demo"]),
        ("python", "-m mrcnn.evaluation", ["--help"]),
        ("external", "tensorboard")]
    assert classify(["frobnicate"]) == ("unknown", "frobnicate")


def test_prose_flags_are_checked_against_the_scripts():
    helps = {"samples/pbc/pbc.py": {"options": {"": ["--help", "-v"], "train": ["--help", "--epochs"],
                                                "detect": ["--help", "--resume"]}}}
    doc = "tests_docs_probe.md"
    path = os.path.join(ROOT, doc)
    with open(path, "w", encoding="utf-8") as f:
        f.write("Use `pbc.py train --epochs 3` or `--resume`; `pbc.py train --resume` and `--frobnicate` are wrong.\n")
    try:
        problems = prose_flag_problems(doc, helps)
    finally:
        os.remove(path)
    assert problems == [f"{doc}: --frobnicate is no option of a documented script",
                        f"{doc}: `pbc.py train --resume`: samples/pbc/pbc.py train has no --resume"]


def test_readme_backbone_table_lists_every_registered_backbone():
    """The README's Backbones table has one row per built-in name of the registry, and no other name."""
    from mrcnn.backbones import BUILTIN
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        section = f.read().split("\n## Backbones\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    named = [name for row in rows for name in re.findall(r"`([a-z0-9_]+)`", row.split("|")[1])]
    assert sorted(named) == sorted(BUILTIN)
