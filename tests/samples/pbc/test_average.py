"""`pbc.py average` on the command line: a run's last stage averaged into one file that evaluate scores with the run's
losses (the averaging itself: tests/training/test_averaging.py)."""

import glob
import json
import os
import subprocess
import sys

import pytest

from samples.pbc import pbc
from tests.samples.pbc.test_pretrain_cli import TINY, make_folder

PBC_PY = os.path.join(os.path.dirname(__file__), "..", "..", "..", "samples", "pbc", "pbc.py")


def test_command_line_without_a_run_is_one_line(tmp_path):
    done = subprocess.run([sys.executable, PBC_PY, "average", "--logs", str(tmp_path / "none"), "--out",
                           str(tmp_path / "a.weights.h5")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr and "pbc.py average: error: --weights last: no log folder" in done.stderr


@pytest.mark.slow
def test_average_a_real_run_then_evaluate_it_with_the_runs_losses(tmp_path, capsys):
    data, logs = str(tmp_path / "pbc"), str(tmp_path / "logs")
    annotations = make_folder(data)
    backbone = str(tmp_path / "backbone.weights.h5")
    assert pbc.main(["pretrain", "--dataset", data, "--epochs", "1", "--batch-size", "8", "--logs", logs,
                     "--out", backbone] + TINY) == 0
    assert pbc.main(["train", "--dataset", data, "--annotations", annotations, "--weights", backbone,
                     "--epochs", "3", "--steps-per-epoch", "1", "--validation-steps", "1", "--images-per-gpu", "2",
                     "--gpu-count", "1", "--logs", logs, "--seed", "0"] + TINY) == 0
    out = str(tmp_path / "detector.weights.h5")
    capsys.readouterr()
    assert pbc.main(["average", "--logs", logs, "--from-epoch", "2", "--out", out]) == 0
    assert f"averaged epochs 2-3 of {glob.glob(os.path.join(logs, 'pbc2*'))[0]}" in capsys.readouterr().out
    assert pbc.main(["evaluate", "--dataset", data, "--annotations", annotations, "--weights", out, "--logs", logs,
                     "--out", str(tmp_path / "eval")] + TINY) == 0
    with open(str(tmp_path / "eval" / "metrics.json"), encoding="utf-8") as f:
        metrics = json.load(f)
    assert metrics["losses"]["last_epoch"] == 3  # Table 3 from the run the averaged file came from
    assert metrics["meta"]["source"]["weights"] == out
