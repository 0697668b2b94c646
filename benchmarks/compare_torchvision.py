"""Our Mask R-CNN against torchvision's maskrcnn_resnet50_fpn on this CPU: time per image, training step, memory.

    pip install torch==2.14.1 torchvision==0.29.1      # benchmark-only; not in requirements.txt
    python benchmarks/compare_torchvision.py            # ~20 minutes on 2 cores
    python benchmarks/compare_torchvision.py --repeats 3 --skip-scaling

Both models: ResNet50-FPN, random weights, 512x512 images (the bench_core.py synthetic boxes), 9 classes, the same
heads (ours with torchvision's 256-channel RPN convolution, RPN_CONV_CHANNELS 256; a second row times ours with
Matterport's 512, our default, which costs as much again as the whole ResNet50 at P2; a third, in training, with
Config.RECOMPUTE_BACKBONE, which recomputes the backbone's activations in the backward pass), the same limits:
6000 proposals before NMS (torchvision counts per pyramid level: 1200 x 5), 1000 after NMS in inference and 2000 in
training, 256 RPN anchors and 100 ROIs per image for the heads, 100 detections per image with no score
threshold (so both run the mask head on exactly 100 detections; the printed counts show it), batch norm trained
(torchvision trains it when no pretrained weights are given), SGD with momentum 0.9. Each framework runs in its own
subprocess so that its peak memory (ru_maxrss) is its own; timings are medians over `--repeats` runs after two
warm-up runs, tracing excluded. Ours runs in its default precision (Config.DTYPE_POLICY "auto": bfloat16 on CPUs
with AVX512_BF16), torchvision in its default float32; `--torch-bf16` also times torchvision under
torch.autocast("cpu", bfloat16) for a like-for-like view.
"""

import argparse
import importlib.util
import json
import os
import resource
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))

from timing import timed  # noqa: E402

NUM_CLASSES = 9
RPN_CHANNELS = 256  # torchvision's RPNHead: a 3x3 convolution that keeps the FPN's 256 channels
LIMITS = {"pre_nms": 6000, "post_nms_inference": 1000, "post_nms_training": 2000, "rpn_anchors": 256,
          "train_rois": 100, "detections": 100}


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def synthetic(size, count):
    """(dataset, images): `count` images of bench_core's random-box dataset (imports TensorFlow: ours only)."""
    from bench_core import BoxesDataset
    dataset = BoxesDataset()
    dataset.load(max(count, 4), size, NUM_CLASSES)
    dataset.prepare()
    return dataset, [dataset.load_image(i) for i in range(count)]


def write_data(size, count, path):
    """Save the images and ground truth of `synthetic(size, count)` for the torchvision worker, which must not load
    TensorFlow (TensorFlow's and torch's thread pools in one process crash here)."""
    dataset, images = synthetic(size, count)
    arrays = {}
    for i, image in enumerate(images):
        masks, class_ids = dataset.load_mask(i)
        arrays[f"image_{i}"] = image
        arrays[f"masks_{i}"] = masks
        arrays[f"class_ids_{i}"] = class_ids
        arrays[f"boxes_{i}"] = np.array([b[:4] for b in dataset.image_info[i]["boxes"]], np.float32)  # y1 x1 y2 x2
    np.savez(path, **arrays)


# ---- ours ------------------------------------------------------------------------------------------------------------

def ours(phase, size, batch, repeats, rpn_channels=RPN_CHANNELS, recompute=False):
    from bench_core import BenchConfig
    from mrcnn.data.generator import DataGenerator
    from mrcnn.model import MaskRCNN, build_optimizer
    from mrcnn.training.optimizer_state import build_optimizer_variables
    from mrcnn.precision import resolve_policy

    class CompareConfig(BenchConfig):
        BACKBONE = "resnet50"
        RPN_CONV_CHANNELS = rpn_channels
        RECOMPUTE_BACKBONE = recompute
        IMAGE_MIN_DIM = IMAGE_MAX_DIM = size
        IMAGES_PER_GPU = batch
        PRE_NMS_LIMIT = LIMITS["pre_nms"]
        POST_NMS_ROIS_INFERENCE = LIMITS["post_nms_inference"]
        POST_NMS_ROIS_TRAINING = LIMITS["post_nms_training"]
        RPN_TRAIN_ANCHORS_PER_IMAGE = LIMITS["rpn_anchors"]
        TRAIN_ROIS_PER_IMAGE = LIMITS["train_rois"]
        DETECTION_MAX_INSTANCES = LIMITS["detections"]
        DETECTION_MIN_CONFIDENCE = 0.0
        TRAIN_BN = True

    config = CompareConfig()
    dataset, images = synthetic(size, batch)
    result = {"framework": "ours", "phase": phase, "size": size, "batch": batch, "backbone": config.BACKBONE,
              "precision": resolve_policy(config.DTYPE_POLICY)}
    if phase == "inference":
        model = MaskRCNN("inference", config, "/tmp/mrcnn-compare")
        result["detections"] = int(np.mean([len(r["scores"]) for r in model.detect(images)]))
        result["seconds"] = timed(lambda: model.detect(images), repeats)[0] / batch  # per image
    else:
        model = MaskRCNN("training", config, "/tmp/mrcnn-compare")
        model.keras_model.compile(optimizer=build_optimizer(config, 0.001))
        build_optimizer_variables(model.keras_model)  # before the first step, as MaskRCNN.train does
        data = DataGenerator(dataset, config, steps=1, seed=0)[0]
        result["seconds"] = timed(lambda: model.keras_model.train_on_batch(data), repeats)[0]  # per step
    result["peak_rss_mb"] = peak_rss_mb()
    return result


# ---- torchvision -----------------------------------------------------------------------------------------------------

def torchvision_run(phase, size, batch, repeats, data, bf16=False):
    import contextlib

    import torch
    from torchvision.models.detection import maskrcnn_resnet50_fpn

    torch.set_num_threads(os.cpu_count() or 1)
    torch.manual_seed(0)
    per_level = LIMITS["pre_nms"] // 5
    model = maskrcnn_resnet50_fpn(
        weights=None, weights_backbone=None, num_classes=NUM_CLASSES, min_size=size, max_size=size,
        rpn_pre_nms_top_n_train=per_level, rpn_pre_nms_top_n_test=per_level,
        rpn_post_nms_top_n_train=LIMITS["post_nms_training"], rpn_post_nms_top_n_test=LIMITS["post_nms_inference"],
        rpn_batch_size_per_image=LIMITS["rpn_anchors"], box_batch_size_per_image=LIMITS["train_rois"],
        box_detections_per_img=LIMITS["detections"], box_score_thresh=0.0)
    data = np.load(data, allow_pickle=False)
    images = [data[f"image_{i}"] for i in range(batch)]
    tensors = [torch.from_numpy(image).permute(2, 0, 1).float() / 255.0 for image in images]
    autocast = (lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if bf16 else contextlib.nullcontext
    result = {"framework": "torchvision", "phase": phase, "size": size, "batch": batch,
              "precision": "autocast bfloat16" if bf16 else "float32"}
    if phase == "inference":
        model.eval()

        def infer():
            with torch.no_grad(), autocast():
                return model(tensors)
        result["detections"] = int(np.mean([len(o["scores"]) for o in infer()]))
        result["seconds"] = timed(infer, repeats)[0] / batch
    else:
        model.train()
        targets = []
        for i in range(batch):
            boxes = data[f"boxes_{i}"][:, [1, 0, 3, 2]]  # (x1, y1, x2, y2)
            targets.append({"boxes": torch.from_numpy(np.ascontiguousarray(boxes)),
                            "labels": torch.from_numpy(data[f"class_ids_{i}"].astype(np.int64)),
                            "masks": torch.from_numpy(np.transpose(data[f"masks_{i}"], (2, 0, 1)).astype(np.uint8))})
        optimizer = torch.optim.SGD(model.parameters(), lr=0.001, momentum=0.9)

        def step():
            optimizer.zero_grad()
            with autocast():
                losses = model(tensors, targets)
            total = sum(losses.values())
            total.backward()
            optimizer.step()
        result["seconds"] = timed(step, repeats)[0]
    result["peak_rss_mb"] = peak_rss_mb()
    return result


# ---- driver ----------------------------------------------------------------------------------------------------------

def run_worker(framework, phase, size, batch, repeats, bf16=False, rpn_channels=RPN_CHANNELS, recompute=False):
    """Run one measurement in a fresh subprocess; returns its result dict."""
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", framework, "--phase", phase, "--size", str(size),
           "--batch", str(batch), "--repeats", str(repeats), "--rpn-channels", str(rpn_channels)]
    cmd += (["--torch-bf16"] if bf16 else []) + (["--recompute"] if recompute else [])
    if framework == "torchvision":
        path = os.path.join(tempfile.gettempdir(), f"mrcnn-compare-{size}-{batch}.npz")
        write_data(size, batch, path)
        cmd += ["--data", path]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise SystemExit(f"worker {framework} {phase} {size}px batch {batch} failed:\n{done.stderr[-3000:]}")
    return json.loads(lines[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--skip-scaling", action="store_true", help="skip our image-size and batch-size sweep")
    parser.add_argument("--torch-bf16", action="store_true", help="also time torchvision under bfloat16 autocast")
    parser.add_argument("--worker", choices=["ours", "torchvision"], help=argparse.SUPPRESS)
    parser.add_argument("--phase", choices=["inference", "training"], help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, default=512, help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--rpn-channels", type=int, default=RPN_CHANNELS, help=argparse.SUPPRESS)
    parser.add_argument("--recompute", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        if args.worker == "ours":
            result = ours(args.phase, args.size, args.batch, args.repeats, rpn_channels=args.rpn_channels,
                          recompute=args.recompute)
        else:
            result = torchvision_run(args.phase, args.size, args.batch, args.repeats, args.data, bf16=args.torch_bf16)
        print(json.dumps(result))
        return 0

    if importlib.util.find_spec("torchvision") is None:
        raise SystemExit("torchvision is not installed: pip install torch==2.14.1 torchvision==0.29.1 "
                         "(benchmark-only; from local disk on the team's machines)")
    print(f"ResNet50-FPN, 512x512, random weights, {os.cpu_count()} CPU cores; limits {LIMITS}; "
          f"medians of {args.repeats} runs")
    print(f"{'':28}{'ours':>12}{'torchvision':>14}{'speed-up':>10}{'ours MB':>10}{'tv MB':>9}")
    for phase, batch, unit in (("inference", 1, "s/image"), ("training", 2, "s/step")):
        mine = run_worker("ours", phase, 512, batch, args.repeats)
        theirs = run_worker("torchvision", phase, 512, batch, args.repeats)
        label = f"{phase}, batch {batch} ({unit})"
        print(f"{label:28}{mine['seconds']:12.3f}{theirs['seconds']:14.3f}{theirs['seconds'] / mine['seconds']:9.2f}x"
              f"{mine['peak_rss_mb']:10.0f}{theirs['peak_rss_mb']:9.0f}")
        if phase == "inference":
            print(f"{'  detections per image':28}{mine['detections']:12d}{theirs['detections']:14d}")
        variants = [("  ours, 512-channel RPN conv", {"rpn_channels": 512})]
        if phase == "training":
            variants.append(("  ours, RECOMPUTE_BACKBONE", {"recompute": True}))
        for label, settings in variants:
            other = run_worker("ours", phase, 512, batch, args.repeats, **settings)
            print(f"{label:28}{other['seconds']:12.3f}{'':14}{theirs['seconds'] / other['seconds']:9.2f}x"
                  f"{other['peak_rss_mb']:10.0f}")
        if args.torch_bf16:
            theirs16 = run_worker("torchvision", phase, 512, batch, args.repeats, bf16=True)
            print(f"{'  torchvision bf16 autocast':28}{'':12}{theirs16['seconds']:14.3f}"
                  f"{theirs16['seconds'] / mine['seconds']:9.2f}x{'':10}{theirs16['peak_rss_mb']:9.0f}")
    print(f"ours: {mine['backbone']}-FPN in {mine['precision']}, RPN conv {RPN_CHANNELS} channels unless said; "
          "torchvision in float32")

    if not args.skip_scaling:
        print("\nours, by image size (inference batch 1 s/image; training batch 2 s/step):")
        for size in (256, 512, 1024):
            inf = run_worker("ours", "inference", size, 1, args.repeats)
            train = run_worker("ours", "training", size, 2, args.repeats)
            print(f"  {size:5d} px   inference {inf['seconds']:7.3f}   training {train['seconds']:7.3f}"
                  f"   peak {max(inf['peak_rss_mb'], train['peak_rss_mb']):6.0f} MB")
        print("ours, by batch size at 512 px (inference s/image; training s/step):")
        for batch in (1, 2, 4):
            inf = run_worker("ours", "inference", 512, batch, args.repeats)
            train = run_worker("ours", "training", 512, batch, args.repeats)
            print(f"  batch {batch}   inference {inf['seconds']:7.3f}   training {train['seconds']:7.3f}"
                  f"   peak {max(inf['peak_rss_mb'], train['peak_rss_mb']):6.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
