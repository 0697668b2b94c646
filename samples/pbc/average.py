"""`pbc.py average`: one model from the last stage of a training run, the mean of its epochs' checkpoints.

    python samples/pbc/pbc.py average --logs logs/pbc --weights last --out out/pbc/detector.weights.h5
    python samples/pbc/pbc.py evaluate ... --weights out/pbc/detector.weights.h5

From pretrained weights a run ends with all layers training at a tenth of the learning rate (config.schedule); the
checkpoints of that stage, as the run recorded it (run.json), are averaged (mrcnn/training/averaging.py says why and
when that is sound). `--weights` names the run's final checkpoint ("last": the newest run's under --logs),
`--from-epoch` the first epoch averaged (default: the first of the stage that trained the final checkpoint). A JSON
beside the output (`detector.json`) names the run and the epochs, so that `evaluate` finds the run's loss curves for
Table 3.

Bad input, each an error naming it: no checkpoint, a missing epoch in the range, a range outside the run, a
checkpoint of another kind of run (a pretraining one), a run whose batch norm trained (TRAIN_BN in its config.json:
its moving statistics would not be averaged soundly), a run without a record of its stages and no --from-epoch.
"""

from samples.pbc.config import PbcConfig


def cmd_average(args):
    from mrcnn.training.averaging import average_run
    from mrcnn.training.checkpoints import report_path
    from mrcnn.weights import resolve_weights

    final = resolve_weights(args.weights, args.logs, PbcConfig.NAME)
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
                                   "checkpoint given by --weights (default: the stage, as the run recorded it, that "
                                   "trained that checkpoint: for a run from pretrained weights, all layers at a "
                                   "tenth of the rate) into one weights file for evaluate, detect and serve. Runs "
                                   "whose batch norm trained are refused.")
    p.add_argument("--weights", default="last",
                   help="the run's final checkpoint, or 'last' (default): the newest run's under --logs")
    p.add_argument("--logs", default="logs", help="folder of training runs (default: logs)")
    p.add_argument("--from-epoch", type=int, default=None,
                   help="first epoch averaged (default: the first epoch of the checkpoint's stage)")
    p.add_argument("--out", required=True, help="weights file to write (*.weights.h5); a .json report goes beside it")
    return p
