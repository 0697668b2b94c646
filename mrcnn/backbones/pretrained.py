"""Pretrained weights: keras.applications' ImageNet weights and Matterport's COCO Mask R-CNN.

Shape shorthand: kh, kw: kernel height and width, Ci, Co: input and output channels of a convolution.

Both loaders return the report of `mrcnn.weights_io.assign_weights`:
{"loaded", "excluded", "missing", "mismatched", "unused"} layer names (the COCO loader adds "renamed":
{file layer name: model layer name}).

ImageNet (`--weights imagenet`). keras.applications keeps its files in the Keras cache, `~/.keras/models/` (or
`$KERAS_HOME/models/`), e.g. `resnet101_weights_tf_dim_ordering_tf_kernels_notop.h5`. `imagenet_weights_path`
checks the path given, or takes the file from the cache, downloading it there first when it is missing and
downloads are allowed (download.py: keras.applications' own URL and hash; offline, the error names the URL and the
exact path to put the file at). The file is read by building the backbone's keras.applications constructor with
`weights=<file>`, i.e. by Keras' own loader, and the weights move into the Mask R-CNN model by layer name (the
builders use the same constructors, so names agree).

COCO (`--weights coco`). `coco_weights_path` finds `mask_rcnn_coco.h5`: a path given, else the current folder, else
the Keras cache folder, downloaded there from Matterport's v2.0 release when missing (download.py). Matterport's file
is a Keras 2 HDF5 file (root attribute `layer_names`, each layer group with attribute `weight_names`, names such as
`res4w_branch2c`, `bn_conv1`, `fpn_c5p5`; the RPN is the nested model `rpn_model` whose weights are named
`rpn_conv_shared/kernel:0` ...). Loading it:

- `read_matterport_weights` splits nested-model groups into their layers by the weight names' prefixes and keeps
  each weight's short name ("kernel", "gamma", ...), so arrays are put in the order of the target layer's variables.
- Matterport's ResNet names map onto keras.applications' (`matterport_to_keras_name`): conv1 -> conv1_conv,
  bn_conv1 -> conv1_bn, res{s}{b}_branch2{a,b,c} -> conv{s}_block{i}_{1,2,3}_conv (block letter a, b, ... -> i = 1,
  2, ...), bn... -> ..._bn, res{s}a_branch1 -> conv{s}_block1_0_conv. The two ResNets match block for block: stride
  2 on the first 1x1 convolution and on the shortcut, biases on every convolution, batch norm variables in the order
  gamma, beta, moving_mean, moving_variance.
- Two differences are compensated exactly: Matterport's batch norm used Keras 2's epsilon 1e-3 and keras.applications
  uses 1.001e-5, so `epsilon_matterport - epsilon_layer` is added to each moving variance (the layer then computes
  the same function); and the model's "caffe" preprocessing layer feeds BGR where Matterport fed RGB, so conv1's
  kernel [kh, kw, Ci = 3, Co] has its input channels reversed.
- One is not: Matterport pools the stem with `MaxPooling2D(3, 2, padding="same")` and keras.applications pads one
  pixel and pools "valid", so the stride-4 windows are shifted by one pixel at stride 2. Fine-tuning absorbs it;
  detections from the unchanged COCO model can differ slightly from Matterport's.
- The class-specific heads (mrcnn_class_logits, mrcnn_bbox_fc, mrcnn_bbox, mrcnn_mask) are excluded when the
  number of classes differs (`num_classes_match=False`).

`weights_file_kind` tells a Keras 3 checkpoint, a Matterport-layout file and another Keras 2 file (e.g. ImageNet
weights) apart, for callers that accept any of them.
"""

import collections
import logging
import os
import re

import keras
import numpy as np

from mrcnn.backbones.download import COCO_WEIGHTS_FILE, KNOWN_FILES, cached_or_download, keras_models_dir
from mrcnn.backbones.preprocess import find_preprocess
from mrcnn.backbones.registry import HEADS_REGEX, get_backbone
from mrcnn.weights_io import all_layers, assign_weights, open_weights_file, read_weights, text, weighted_layers

log = logging.getLogger(__name__)

CLASS_SPECIFIC_HEADS = ("mrcnn_class_logits", "mrcnn_bbox_fc", "mrcnn_bbox", "mrcnn_mask")
# Keras 2's BatchNormalization default, used by every batch norm of Matterport's model.
MATTERPORT_BN_EPSILON = 1e-3

_MATTERPORT_RESNET = re.compile(r"(res|bn)([2-5])([a-z])_branch(2a|2b|2c|1)")
_BRANCH = {"2a": "1", "2b": "2", "2c": "3", "1": "0"}


def weights_file_kind(path):
    """What a weights file holds, from its layout and layer names:
    "keras3" (a Keras 3 `.weights.h5`, e.g. our checkpoints), "matterport" (a Keras 2 HDF5 file with Mask R-CNN
    layers `fpn_*`, `rpn_*` or `mrcnn_*`, e.g. mask_rcnn_coco.h5) or "keras2" (another Keras 2 HDF5 file, e.g.
    keras.applications' ImageNet weights). FileNotFoundError / ValueError for a missing or unreadable file."""
    path = os.fspath(path)
    with open_weights_file(path) as f:
        root = f["model_weights"] if "model_weights" in f else f
        if "layer_names" in root.attrs:
            names = [text(n) for n in root.attrs["layer_names"]]
            return "matterport" if any(n.startswith(("fpn_", "rpn_", "mrcnn_")) for n in names) else "keras2"
        if "layers" in f:
            return "keras3"
    raise ValueError(f"{path}: neither a Keras 3 (.weights.h5) nor a Keras 2 HDF5 weights file")


def imagenet_weights_path(backbone_name, path=None, offline=None):
    """The ImageNet weights file of `backbone_name`: `path` when given, else the Keras cache file, downloaded first
    when it is missing and `offline` (default: the MRCNN_OFFLINE environment variable) is not set.

    Raises FileNotFoundError (download.WeightsUnavailableError when a download was refused or failed) naming the
    file, the URL and where to put it, or the path given that does not exist; ValueError for a backbone without
    keras.applications ImageNet weights when no path is given.
    """
    backbone = get_backbone(backbone_name)
    if path is not None:
        path = os.fspath(path)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"ImageNet weights file for {backbone.name!r} not found: {path}")
        return path
    if not backbone.imagenet_weights:
        raise ValueError(f"backbone {backbone.name!r} has no keras.applications ImageNet weights; pass a weights file "
                         "of this backbone (--weights-file PATH) or train from scratch (--weights none)")
    folder = keras_models_dir()
    candidate = os.path.join(folder, backbone.imagenet_weights)
    if os.path.isfile(candidate):
        return candidate
    if backbone.imagenet_weights in KNOWN_FILES:
        return cached_or_download(backbone.imagenet_weights, offline=offline, folder=folder)
    raise FileNotFoundError(
        f"ImageNet weights for {backbone.name!r} not found: put {backbone.imagenet_weights} in {folder}/, or pass "
        "the file's location with --weights-file PATH (no download address is known for this file)")


def coco_weights_path(path=None, offline=None):
    """Matterport's COCO weights file: `path` when given, else mask_rcnn_coco.h5 in the current folder or in the Keras
    cache folder, downloaded there first (Matterport's v2.0 release, hash checked) when it is in neither and
    `offline` (default: the MRCNN_OFFLINE environment variable) is not set. FileNotFoundError names the path given
    that does not exist; download.WeightsUnavailableError the URL and the path to put the file at."""
    if path is not None:
        path = os.fspath(path)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"COCO weights file not found: {path}")
        return path
    here = os.path.join(os.getcwd(), COCO_WEIGHTS_FILE)
    if os.path.isfile(here):
        return here
    return cached_or_download(COCO_WEIGHTS_FILE, offline=offline)


def load_imagenet_weights(keras_model, backbone_name, path=None, offline=None):
    """Load ImageNet weights of `backbone_name` into the backbone layers of `keras_model` (a Keras model or a
    MaskRCNN), from `path` or the Keras cache (downloaded when missing unless `offline`: see imagenet_weights_path).
    Returns the assign_weights report; the heads are reported as "missing" (they keep their initialisation)."""
    keras_model = getattr(keras_model, "keras_model", keras_model)
    backbone = get_backbone(backbone_name)
    file = imagenet_weights_path(backbone_name, path, offline=offline)
    if backbone.application is not None:
        try:
            reference = backbone.application(include_top=False, weights=file, input_shape=(None, None, 3))
        except ValueError as e:
            raise ValueError(f"{file}: not keras.applications' ImageNet weights of {backbone.name!r} without the top "
                             f"({backbone.imagenet_weights}): {e}") from None
        weights = {name: layer.get_weights() for name, layer in weighted_layers(reference).items()}
    else:
        weights = read_weights(file)
    report = assign_weights(keras_model, weights, source=file)
    if not report["loaded"]:
        raise ValueError(f"{file}: no layer of the model matched a layer of the file (is the model's backbone "
                         f"{backbone.name!r}?)")
    not_loaded = [n for n in report["missing"] if not re.fullmatch(HEADS_REGEX, n)] + report["mismatched"]
    if not_loaded or report["unused"]:
        log.warning("ImageNet weights %s do not cover the model's backbone: %d backbone layers not loaded (%s), %d "
                    "layers of the file unused (%s); is Config.BACKBONE %r?", file, len(not_loaded),
                    ", ".join(not_loaded[:5]), len(report["unused"]), ", ".join(report["unused"][:5]), backbone.name)
    if backbone.preprocessing and find_preprocess(keras_model) is None:
        log.warning("the model has no backbone_preprocess layer: %s's ImageNet weights expect keras.applications' "
                    "%r input, but will see molded images", backbone.name, backbone.preprocessing)
    log.info("ImageNet weights %s: %d layers loaded, %d shape-mismatched, %d layers not in the file (heads)",
             file, len(report["loaded"]), len(report["mismatched"]), len(report["missing"]))
    return report


def matterport_to_keras_name(name):
    """keras.applications' name of a layer of Matterport's ResNet (e.g. res4w_branch2c -> conv4_block23_3_conv);
    any other name is returned unchanged."""
    if name == "conv1":
        return "conv1_conv"
    if name == "bn_conv1":
        return "conv1_bn"
    match = _MATTERPORT_RESNET.fullmatch(name)
    if not match:
        return name
    kind, stage, block, branch = match.groups()
    return f"conv{stage}_block{ord(block) - ord('a') + 1}_{_BRANCH[branch]}_{'conv' if kind == 'res' else 'bn'}"


def _keras2_weight_names(path):
    """{layer group name: [weight names]} of a Keras 2 HDF5 file; {} for other layouts."""
    with open_weights_file(path) as f:
        root = f["model_weights"] if "model_weights" in f else f
        if "layer_names" not in root.attrs:
            return {}
        names = {}
        for layer in (text(n) for n in root.attrs["layer_names"]):
            names[layer] = [text(n) for n in root[layer].attrs.get("weight_names", [])]
        return names


def _owner_and_short(weight_name):
    """("rpn_conv_shared", "kernel") for "rpn_conv_shared/kernel:0"; (None, "kernel") for "kernel:0"."""
    parts = weight_name.split(":")[0].split("/")
    return (parts[-2] if len(parts) > 1 else None), parts[-1]


def read_matterport_weights(path):
    """{layer name: [(weight short name or None, array), ...]} from a Keras 2 HDF5 file (Matterport's layout).

    A Keras 2 layer group whose weights belong to several layers (a nested model such as Matterport's `rpn_model`,
    weight names `rpn_conv_shared/kernel:0`, ...) is split into those layers. h5py 3 returns the name attributes as
    bytes or str depending on how they were written; both are read.
    """
    arrays = read_weights(path)
    names = _keras2_weight_names(path)
    if not names:
        raise ValueError(f"{path}: not a Keras 2 HDF5 weights file (no 'layer_names' attribute), the layout of "
                         "Matterport's mask_rcnn_coco.h5; load Keras 3 .weights.h5 checkpoints with "
                         "MaskRCNN.load_weights")
    out = collections.OrderedDict()
    for group, values in arrays.items():
        weight_names = names.get(group, [])
        if len(weight_names) != len(values):
            out[group] = [(None, a) for a in values]
            continue
        parsed = [_owner_and_short(n) for n in weight_names]
        owners = list(dict.fromkeys(owner for owner, _ in parsed))
        if len(owners) > 1 and None not in owners:
            for owner in owners:
                out[owner] = [(short, a) for (o, short), a in zip(parsed, values) if o == owner]
        else:
            out[group] = [(short, a) for (_, short), a in zip(parsed, values)]
    return out


def _nested_models(model):
    return {layer.name: layer for layer in all_layers(model) if isinstance(layer, keras.Model)}


def _ordered_arrays(layer, named_arrays):
    """The arrays in the order of `layer.weights`, by short name when every name is known, else in file order."""
    variable_names = [w.name.split("/")[-1].split(":")[0] for w in layer.weights]
    by_name = {short: a for short, a in named_arrays if short is not None}
    if len(by_name) == len(named_arrays) and sorted(by_name) == sorted(variable_names):
        return [by_name[n] for n in variable_names]
    return [a for _, a in named_arrays]


def _adapt_to_layer(layer, file_name, arrays, flip_rgb):
    """Matterport arrays made to compute the same function in `layer` (batch norm epsilon, RGB -> BGR input)."""
    arrays = [np.array(a) for a in arrays]
    if isinstance(layer, keras.layers.BatchNormalization) and len(arrays) == 4:
        shift = MATTERPORT_BN_EPSILON - float(layer.epsilon)
        if shift:
            arrays[3] = (arrays[3] + shift).astype(arrays[3].dtype)
    if flip_rgb and file_name == "conv1" and arrays and arrays[0].ndim == 4 and arrays[0].shape[2] == 3:
        arrays[0] = np.ascontiguousarray(arrays[0][:, :, ::-1, :])
    return arrays


def load_coco_weights(keras_model, path, num_classes_match=True, exclude=(), skip_mismatch=True):
    """Load Matterport's `mask_rcnn_coco.h5` (or any Matterport-layout file) into `keras_model` by mapped names.

    Args:
        keras_model: a Keras model or a MaskRCNN (its keras_model), e.g. built with BACKBONE "resnet101".
        path: the HDF5 file.
        num_classes_match: False excludes the class-specific heads (CLASS_SPECIFIC_HEADS), as when NUM_CLASSES is not
            COCO's 81.
        exclude: more layer names (model names) not to load.
        skip_mismatch: False raises ValueError on a layer whose shapes differ (assign_weights); True skips it.
    Returns the assign_weights report, in the model's layer names except "unused" (the file's names), plus
    "renamed" {file name: model name}.
    """
    keras_model = getattr(keras_model, "keras_model", keras_model)
    file_layers = read_matterport_weights(path)
    layers = weighted_layers(keras_model)
    nested = _nested_models(keras_model)
    preprocess = find_preprocess(keras_model)
    flip_rgb = preprocess is not None and preprocess.bgr

    weights, renamed = collections.OrderedDict(), {}
    for file_name, named_arrays in file_layers.items():
        if file_name not in layers and file_name in nested:
            pieces = _split_by_model(nested[file_name], named_arrays)
        else:
            pieces = [(file_name, named_arrays)]
        for name, arrays in pieces:
            target = name if name in layers else matterport_to_keras_name(name)
            if target not in layers:
                weights[name] = [a for _, a in arrays]
                continue
            if target != name:
                renamed[name] = target
            layer = layers[target]
            weights[target] = _adapt_to_layer(layer, name, _ordered_arrays(layer, arrays), flip_rgb)

    excluded = set(exclude or ()) | (set() if num_classes_match else set(CLASS_SPECIFIC_HEADS))
    report = assign_weights(keras_model, weights, exclude=excluded, source=os.fspath(path),
                            skip_mismatch=skip_mismatch)
    report["renamed"] = renamed
    if not any(name.startswith(("res", "bn")) for name in renamed) and "conv1" not in renamed:
        log.warning("%s: none of the file's ResNet layers matched the model's backbone; Matterport's COCO weights are "
                    "for BACKBONE 'resnet101' (or 'resnet50')", path)
    log.info("COCO weights %s: %d layers loaded (%d renamed from Matterport's names), %d excluded, %d missing, "
             "%d shape-mismatched, %d in the file unused", path, len(report["loaded"]), len(renamed),
             len(report["excluded"]), len(report["missing"]), len(report["mismatched"]), len(report["unused"]))
    return report


def _split_by_model(submodel, named_arrays):
    """A nested-model group whose weight names carry no layer prefix: split its arrays over the submodel's weighted
    layers in order (Keras 2 saved a model's weights layer after layer)."""
    sublayers = weighted_layers(submodel)
    counts = [len(layer.weights) for layer in sublayers.values()]
    if sum(counts) != len(named_arrays):
        return [(submodel.name, named_arrays)]
    pieces, start = [], 0
    for name, count in zip(sublayers, counts):
        pieces.append((name, named_arrays[start:start + count]))
        start += count
    return pieces
