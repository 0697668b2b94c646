"""Score any COCO results file against any COCO instances ground truth with every metric that applies.

    python -m mrcnn.evaluation --gt instances_val.json --results results.json --out out/eval [--paper resnet101]

Writes metrics.json (schema in the README), report.md, pr_curves.png and the confusion matrices into --out, and
prints the report. --compare RUN_OR_METRICS... instead prints Tables 3-5 with one row per run. A mistake in the input
(a missing or malformed file) is one line on stderr and exit status 2; --debug or MRCNN_DEBUG=1 shows the traceback.
Shape shorthand: none (files in, files out).
"""

import argparse
import logging
import sys

from mrcnn import cli
from mrcnn.evaluation.evaluate import PRIMARY_VARIANT, VARIANT_ORDER, evaluate_coco_files
from mrcnn.evaluation.losses import read_losses
from mrcnn.evaluation.paper import BACKBONES, paper_values
from mrcnn.evaluation.report import compare_runs, markdown_report, write_report
from mrcnn.evaluation.semantic import DEFAULT_BF_TOLERANCE


def build_parser():
    parser = argparse.ArgumentParser(prog="python -m mrcnn.evaluation", description=__doc__.split("\n\n")[0])
    parser.add_argument("--gt", help="COCO instances ground-truth JSON")
    parser.add_argument("--results", help="COCO results JSON (image_id, category_id, score, bbox, segmentation)")
    parser.add_argument("--out", help="output folder for metrics.json, report.md and the PNGs")
    parser.add_argument("--image-dir", default=None, help="folder of the images (recorded only)")
    parser.add_argument("--paper", default="resnet101", choices=list(BACKBONES) + ["none"],
                        help="the paper's backbone to print beside our figures (default resnet101)")
    parser.add_argument("--backbone", default=None, help="backbone of the run, stored in metrics.json meta.source")
    parser.add_argument("--log-dir", default=None, help="the run's log folder: adds Table 3 (losses)")
    parser.add_argument("--bf-tolerance", type=float, default=DEFAULT_BF_TOLERANCE,
                        help="BF-score tolerance as a fraction of the image diagonal (default 0.0075)")
    parser.add_argument("--no-semantic", action="store_true", help="skip the semantic metrics (seed 003)")
    parser.add_argument("--no-objects", action="store_true", help="skip the object-level metrics (seed 004)")
    parser.add_argument("--pycocotools", action="store_true",
                        help="also score with pycocotools and store the difference from our COCO-style figures")
    parser.add_argument("--compare", nargs="+", metavar="RUN", default=None,
                        help="print Tables 3-5 for these metrics.json files or folders instead of evaluating")
    parser.add_argument("--variant", default=PRIMARY_VARIANT, choices=VARIANT_ORDER,
                        help="Table 4 variant for --compare (default: 11point, the paper's eq. 5)")
    parser.add_argument("--quiet", action="store_true", help="do not print the report")
    return parser


def main(argv=None):
    """Evaluate or compare; a mistake in the input is one line on stderr and exit status 2 (mrcnn.cli)."""
    parser = build_parser()
    args = cli.parse_args(parser, argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    missing = [flag for flag, value in (("--gt", args.gt), ("--results", args.results), ("--out", args.out))
               if not value]
    if missing and not args.compare:
        parser.error(f"{', '.join(missing)} required (or use --compare)")
    return cli.run(_run, args)


def _run(args):
    if args.compare:
        print(compare_runs(args.compare, variant=args.variant))
        return 0
    source = {"backbone": args.backbone} if args.backbone else {}
    losses = read_losses(args.log_dir) if args.log_dir else None
    metrics = evaluate_coco_files(args.gt, args.results, image_dir=args.image_dir,
                                  check_with_pycocotools=args.pycocotools, bf_tolerance=args.bf_tolerance,
                                  semantic_metrics=not args.no_semantic, object_metrics=not args.no_objects,
                                  losses=losses, source=source)
    paper = None if args.paper == "none" else paper_values(args.paper)
    paths = write_report(metrics, args.out, paper=paper)
    if not args.quiet:
        print(markdown_report(metrics, paper))
    print("\n".join(f"wrote {path}" for path in paths.values()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
