"""benchmarks/finetune_loop.py without a model: the simulated verification (development images only, seeded, the
verified ones kept apart from the rest) and its corrections.json, which the project's COCO reader reads back with the
expert's masks and classes."""

import importlib.util
import json
import os

import numpy as np
from PIL import Image

from mrcnn.data.annotations import rasterize, read_coco_instances
from samples.pbc.classes import CLASS_NAMES

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SPEC = importlib.util.spec_from_file_location("finetune_loop_bench", os.path.join(REPO, "benchmarks",
                                                                                   "finetune_loop.py"))
bench = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(bench)


def _wbc_masks_folder(folder, count=12):
    """`count` 40 x 40 crops NNN.bmp with a square cell of class 1 + NNN % 5 at a place that depends on NNN."""
    for number in range(1, count + 1):
        Image.fromarray(np.full((40, 40, 3), number, np.uint8)).save(os.path.join(folder, f"{number:03d}.bmp"))
        truth = np.zeros((40, 40), np.uint8)
        truth[number:number + 20, 5:25] = 128
        Image.fromarray(truth).save(os.path.join(folder, f"{number:03d}.png"))
    with open(os.path.join(folder, "classes.csv"), "w") as f:
        f.write("image ID,class label\n" + "".join(f"{n},{1 + n % 5}\n" for n in range(1, count + 1)))


def test_verified_images_are_development_images_and_their_corrections_read_back(tmp_path):
    folder = str(tmp_path)
    _wbc_masks_folder(folder)
    dev = {f"{n:03d}.bmp" for n in range(1, 13) if bench.other_labs.in_split(f"{n:03d}.bmp", "dev")}
    verified, rest = bench.verified_and_rest(folder, 3, seed=0)
    assert len(verified) == 3 and {s.name for s in verified} | {s.name for s in rest} == dev
    assert not {s.name for s in verified} & {s.name for s in rest}
    assert [s.name for s in bench.verified_and_rest(folder, 3, seed=0)[0]] == [s.name for s in verified]
    path = str(tmp_path / "corrections.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(bench.corrections(verified), f)
    records, report = read_coco_instances(path, folder, CLASS_NAMES, match_basename=True)
    assert report.skipped_images == [] and len(records) == 3
    for record, sample in zip(records, verified):
        (instance,) = record.instances
        assert instance.class_name == sample.truth_class
        assert np.array_equal(rasterize(instance, 40, 40), sample.truth_mask)
