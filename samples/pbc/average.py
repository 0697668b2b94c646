"""`pbc.py average`: one model from the last stage of a training run, the mean of its epochs' checkpoints.

    python samples/pbc/pbc.py average --logs logs/pbc --weights last --out out/pbc/detector.weights.h5
    python samples/pbc/pbc.py evaluate ... --weights out/pbc/detector.weights.h5

From pretrained weights a run ends with all layers training at a tenth of the learning rate (config.schedule); the
checkpoints of that stage are averaged (mrcnn/training/averaging.py says why and when that is sound). `--weights`
names the run's final checkpoint ("last": the newest run's under --logs), `--from-epoch` the first epoch averaged
(default: the first of the last stage). A JSON beside the output (`detector.json`) names the run and the epochs, so
that `evaluate` finds the run's loss curves for Table 3.

Bad input, each an error naming it: no checkpoint, a missing epoch in the range, a range outside the run, a run whose
batch norm trained (TRAIN_BN in its config.json: its moving statistics would not be averaged soundly), a config.json
that is not JSON.
"""

import json
import os

from mrcnn.training.checkpoints import (checkpoint_path, parse_checkpoint, read_run_config, report_path,
                                        write_text_atomic)

NAME = "pbc"


def run_folder(weights):
    """The training run a weights file belongs to: the run named in the JSON beside an averaged file, else its
    folder (a checkpoint lives in its run's folder)."""
    report = report_path(weights)
    if os.path.isfile(report):
        try:
            with open(report, encoding="utf-8") as f:
                run = json.load(f).get("run")
        except (OSError, ValueError, AttributeError):
            run = None
        if isinstance(run, str) and os.path.isdir(run):
            return run
    return os.path.dirname(os.path.abspath(weights))


def last_stage_start(final_epoch):
    """First epoch of the last stage of a run from pretrained weights that ends at `final_epoch`."""
    from samples.pbc.config import schedule
    stages = schedule("pretrained", final_epoch)
    return stages[-2][0] + 1 if len(stages) > 1 else 1


def average_run(final_checkpoint, out, from_epoch=None):
    """Average the checkpoints of `final_checkpoint`'s run from `from_epoch` to its epoch into `out` (and the JSON
    beside it); returns that report as a dict."""
    from mrcnn.training.averaging import average_weights_files

    parsed = parse_checkpoint(final_checkpoint)
    if parsed is None:
        raise ValueError(f"--weights {final_checkpoint}: not a training checkpoint (mask_rcnn_{NAME}_NNNN.weights.h5 "
                         "in a run folder)")
    run, last = parsed
    first = last_stage_start(last) if from_epoch is None else from_epoch
    if not 1 <= first <= last:
        raise ValueError(f"--from-epoch {first}: must be between 1 and the checkpoint's epoch {last}")
    train_bn = (read_run_config(run) or {}).get("TRAIN_BN", False)  # True or None: its statistics moved
    if train_bn is not False:
        raise ValueError(f"{run}/config.json: TRAIN_BN is {train_bn} (a run from scratch): its batch-norm statistics "
                         "moved between epochs, so their mean is not the statistics of the averaged model; "
                         "average runs from pretrained weights (frozen batch norm) only")
    paths = [checkpoint_path(run, NAME, epoch) for epoch in range(first, last + 1)]
    missing = [p for p in paths if not os.path.isfile(p)]
    if missing:
        raise FileNotFoundError(f"{run}: no checkpoint of epoch(s) "
                                f"{', '.join(str(parse_checkpoint(p)[1]) for p in missing)} to average "
                                f"(epochs {first}-{last} asked)")
    out_dir = os.path.dirname(os.path.abspath(out))
    os.makedirs(out_dir, exist_ok=True)
    arrays = average_weights_files(paths, out)
    report = {"weights": out, "run": run, "epochs": [first, last], "checkpoints": len(paths), "arrays": arrays}
    write_text_atomic(report_path(out), json.dumps(report, indent=2) + "\n")
    return report


def cmd_average(args):
    from samples.pbc.pbc import find_weights

    final = find_weights(args.weights, args.logs, NAME)
    report = average_run(final, args.out, args.from_epoch)
    first, last = report["epochs"]
    print(f"averaged epochs {first}-{last} of {report['run']} ({report['checkpoints']} checkpoints, "
          f"{report['arrays']} arrays): {report['weights']}\nreport: {report_path(report['weights'])}\n"
          f"next: pbc.py evaluate ... --weights {report['weights']}")
    return 0


def add_parser(sub):
    """The `average` subcommand's options (on the subparsers `sub` of pbc.py)."""
    p = sub.add_parser("average", help="one model from a run's last stage: the mean of its epochs' checkpoints",
                       description="Average the weights of a training run's checkpoints from --from-epoch to the "
                                   "checkpoint given by --weights (default: the last stage of a run from "
                                   "pretrained weights, all layers at a tenth of the rate) into one weights file "
                                   "for evaluate, detect and serve. Runs whose batch norm trained are refused.")
    p.add_argument("--weights", default="last",
                   help="the run's final checkpoint, or 'last' (default): the newest run's under --logs")
    p.add_argument("--logs", default="logs", help="folder of training runs (default: logs)")
    p.add_argument("--from-epoch", type=int, default=None,
                   help="first epoch averaged (default: the first epoch of the run's last stage)")
    p.add_argument("--out", required=True, help="weights file to write (*.weights.h5); a .json report goes beside it")
    return p
