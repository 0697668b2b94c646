"""Reading weight files by layer name: Keras 3 `.weights.h5` and legacy Keras 2 HDF5 (Matterport's `mask_rcnn_*.h5`).

Matterport loaded weights by layer name with an `exclude` list (to drop the class-specific heads when NUM_CLASSES
differs). Keras 3 dropped `by_name`, so this module reads the file with h5py and assigns arrays layer by layer.
Both layouts reduce to {layer name: [arrays in the layer's variable order]}:

- Keras 3: `layers/<key>/vars/0..n` (nested models: `layers/<key>/layers/<key>/vars`), the `vars` group's attribute
  `name` holding the layer's name. Keras writes a bfloat16 variable (an inference model's 16-bit weights,
  mrcnn/precision.py) as raw 2-byte values with the attribute `dtype` "bfloat16"; those are read as float32.
- Keras 2: root (or `model_weights/`) attribute `layer_names`, each layer group with attribute `weight_names`; h5py 3
  returns these attributes as `bytes` or `str` depending on how they were written, so both are accepted.
"""

import collections
import logging
import os

import h5py
import keras
import ml_dtypes
import numpy as np

log = logging.getLogger(__name__)


def text(value):
    """An HDF5 attribute value as str: h5py 3 returns bytes or str depending on how the file was written."""
    return value.decode("utf-8") if isinstance(value, (bytes, np.bytes_)) else str(value)


def open_weights_file(path):
    """The HDF5 file at `path`, open for reading; FileNotFoundError / ValueError naming the file otherwise."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"weights file not found: {path}")
    try:
        return h5py.File(path, "r")
    except OSError as e:
        raise ValueError(f"{path}: not a readable HDF5 weights file ({e})") from None


def read_weights(path):
    """{layer name: [np.ndarray, ...]} from a Keras 3 or Keras 2 HDF5 weights file (layers without weights omitted)."""
    with open_weights_file(path) as f:
        root = f["model_weights"] if "model_weights" in f else f
        if "layer_names" in root.attrs:
            return _read_keras2(root)
        if "layers" in f:
            out = collections.OrderedDict()
            _read_keras3(f["layers"], out)
            return out
    raise ValueError(f"{path}: neither a Keras 3 (.weights.h5) nor a Keras 2 HDF5 weights file "
                     "(no 'layers' group and no 'layer_names' attribute)")


def _read_keras2(root):
    out = collections.OrderedDict()
    for name in (text(n) for n in root.attrs["layer_names"]):
        group = root[name]
        weight_names = [text(n) for n in group.attrs.get("weight_names", [])]
        if weight_names:
            out[name] = [np.asarray(group[w]) for w in weight_names]
    return out


def _array(dataset):
    """The values of one Keras 3 variable dataset (bfloat16 ones as float32, exactly)."""
    if text(dataset.attrs.get("dtype", "")) == "bfloat16":
        return np.asarray(dataset, dtype=ml_dtypes.bfloat16).astype(np.float32)
    return np.asarray(dataset)


def _keras3_layers(group):
    """(layer name, its `vars` group) of every layer with weights under a Keras 3 file's `layers` group, depth first
    (nested models' layers after their model's own)."""
    for key in group:
        item = group[key]
        if not isinstance(item, h5py.Group):
            continue
        if "vars" in item and len(item["vars"]):
            yield text(item["vars"].attrs.get("name", key)), item["vars"]
        if "layers" in item:
            yield from _keras3_layers(item["layers"])


def _read_keras3(group, out):
    for name, vars_group in _keras3_layers(group):
        out[name] = [_array(vars_group[str(i)]) for i in range(len(vars_group))]


def all_layers(model):
    """Every layer of `model`, depth first: a nested model (e.g. Matterport's rpn_model) and then its layers."""
    for layer in model.layers:
        yield layer
        if isinstance(layer, keras.Model):
            yield from all_layers(layer)


def batch_norm_layers(model):
    """The BatchNormalization layers of `model`, nested models included, in all_layers' order."""
    return [layer for layer in all_layers(model) if isinstance(layer, keras.layers.BatchNormalization)]


def weighted_layers(model):
    """{name: layer} for every layer with weights in `model`, nested models flattened (Matterport's convention)."""
    return collections.OrderedDict((layer.name, layer) for layer in all_layers(model)
                                   if not isinstance(layer, keras.Model) and layer.weights)


def assign_weights(model, weights, exclude=(), strict=False, source="weights", skip_mismatch=True):
    """Assign {layer name: arrays} to `model`'s layers of the same name.

    Args:
        model: a Keras model (nested models are searched too).
        weights: {layer name: [arrays]} as returned by `read_weights`.
        exclude: layer names to leave untouched.
        strict: raise ValueError when a weighted layer of the model has no entry, or shapes differ (a full restore);
            otherwise skip those layers and report them.
        source: the file name, for messages.
        skip_mismatch: False raises ValueError (naming the layer and both shapes) on a shape mismatch even when not
            strict, as Keras 2's load_weights(by_name=True) did; True skips and reports it.
    Returns:
        {"loaded": [...], "excluded": [...], "missing": [...], "mismatched": [...], "unused": [...]} layer names.
    """
    exclude = set(exclude or ())
    report = {"loaded": [], "excluded": [], "missing": [], "mismatched": [], "unused": []}
    layers = weighted_layers(model)
    for name, layer in layers.items():
        if name in exclude:
            report["excluded"].append(name)
            continue
        arrays = weights.get(name)
        if arrays is None:
            report["missing"].append(name)
            continue
        expected = [tuple(w.shape) for w in layer.weights]
        got = [tuple(a.shape) for a in arrays]
        if expected != got:
            report["mismatched"].append(name)
            if strict or not skip_mismatch:
                raise ValueError(f"{source}: layer {name!r} has weights of shapes {got}, the model expects {expected}"
                                 f"{'' if strict else '; pass skip_mismatch=True to skip such layers'}")
            continue
        layer.set_weights(arrays)
        report["loaded"].append(name)
    report["unused"] = [n for n in weights if n not in layers and n not in exclude]
    if strict and report["missing"]:
        raise ValueError(f"{source}: no weights for layer(s) {report['missing'][:10]}"
                         f"{' ...' if len(report['missing']) > 10 else ''}; load by_name=True to skip them")
    return report


def replace_weights(path, out_path, weights):
    """Write to `out_path` a copy of the Keras 3 weights file `path` in which the layers named in `weights`
    ({layer name: [arrays]}, as read_weights gives them) hold those arrays; every other byte is the file's.

    The arrays must have the layers' shapes (each is stored in its dataset's dtype). Raises ValueError naming the file
    for a Keras 2 file, a layer the file does not have, or an array of another shape. Written atomically.
    """
    import shutil

    from mrcnn.training.checkpoints import write_atomic

    with open_weights_file(path) as f:
        if "layers" not in f:
            raise ValueError(f"{path}: not a Keras 3 .weights.h5 file; only those can be rewritten")
    pending = dict(weights)

    def write(tmp):
        shutil.copyfile(path, tmp)
        with h5py.File(tmp, "r+") as f:
            _replace_keras3(f["layers"], pending, path)
        if pending:  # nothing is written: the temporary goes
            raise ValueError(f"{path}: no layer {sorted(pending)[:5]} in the file")
    write_atomic(out_path, write)


def _replace_keras3(group, pending, path):
    for name, vars_group in _keras3_layers(group):
        if name not in pending:
            continue
        arrays = pending.pop(name)
        if len(arrays) != len(vars_group):
            raise ValueError(f"{path}: layer {name!r} holds {len(vars_group)} arrays, not {len(arrays)}")
        for i, array in enumerate(arrays):
            dataset = vars_group[str(i)]
            if tuple(dataset.shape) != tuple(np.shape(array)):
                raise ValueError(f"{path}: layer {name!r} array {i} is {tuple(dataset.shape)}, not "
                                 f"{tuple(np.shape(array))}")
            if text(dataset.attrs.get("dtype", "")) == "bfloat16":
                dataset[...] = np.asarray(array, np.float32).astype(ml_dtypes.bfloat16).view(dataset.dtype)
            else:
                dataset[...] = np.asarray(array).astype(dataset.dtype)
