"""Mixed precision: which Keras dtype policy the model is built with (Config.DTYPE_POLICY).

Under a mixed policy the convolutions and dense layers of the backbone, FPN and heads compute in 16 bits and keep
float32 weights (the inference model keeps them in 16 bits: `store_weights_in_compute_dtype`); everything that is a
box, a delta, a logit or a probability stays float32 on purpose:
  - the RPN's and the heads' last layers (rpn_class_raw, rpn_bbox_pred, mrcnn_class_logits, mrcnn_bbox_fc,
    mrcnn_mask) and the softmax/reshape/concatenate layers after them: they feed the losses and the box decoding;
  - every custom layer that handles boxes or anchors (ProposalLayer, DetectionTargetLayer, PyramidROIAlign,
    DetectionLayer, the glue layers): normalized coordinates in bfloat16 would be off by up to 2 pixels at 512 px.
The losses compute in float32 whatever their inputs.

Policies:
  "float32"          Matterport's: everything in float32.
  "mixed_bfloat16"   16-bit compute in bfloat16 (no loss scaling needed: bfloat16 has float32's range). Fast on CPUs
                     with AVX512_BF16 / AMX and on GPUs of compute capability >= 8.0 (A100, RTX 30xx and later);
                     much slower than float32 on CPUs without native bfloat16.
  "mixed_float16"    16-bit compute in float16 with dynamic loss scaling; for older GPUs (V100, T4).
  "auto"             "mixed_bfloat16" when this machine computes bfloat16 natively (see `native_bfloat16`),
                     "mixed_float16" on other GPUs of compute capability >= 7.0, else "float32".
"""

import contextlib
import functools
import logging

import keras

from mrcnn.config import DTYPE_POLICIES

log = logging.getLogger(__name__)

# Layers whose outputs must stay float32 under a mixed policy pass this as their `dtype`.
FLOAT32 = "float32"


def _cpu_flags():
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def _gpu_capabilities():
    import tensorflow as tf
    capabilities = []
    for gpu in tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(gpu)
        capabilities.append(tuple(details.get("compute_capability", (0, 0))))
    return capabilities


@functools.lru_cache(maxsize=None)
def auto_policy():
    """The policy "auto" stands for on this machine (see the module docstring)."""
    gpus = _gpu_capabilities()
    if gpus:
        lowest = min(gpus)
        if lowest >= (8, 0):
            return "mixed_bfloat16"
        if lowest >= (7, 0):
            return "mixed_float16"
        return "float32"
    flags = _cpu_flags()
    if "avx512_bf16" in flags or "amx_bf16" in flags:
        return "mixed_bfloat16"
    return "float32"


def resolve_policy(name):
    """The Keras policy name for Config.DTYPE_POLICY `name` ("auto" resolved for this machine)."""
    if name not in DTYPE_POLICIES:
        raise ValueError(f"Config.DTYPE_POLICY = {name!r}: valid values are {DTYPE_POLICIES}")
    return auto_policy() if name == "auto" else name


@contextlib.contextmanager
def dtype_policy_scope(name):
    """Build layers under the Keras dtype policy `name` (resolved), restoring the global policy afterwards.

    Keras layers take the global policy when they are constructed, keras.applications backbones included, so the
    graph is built inside this scope; the policy is not left set for the rest of the program.
    """
    policy = resolve_policy(name)
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        yield policy
    finally:
        keras.config.set_dtype_policy(previous)


def store_weights_in_compute_dtype(model):
    """Keep the weights of `model`'s 16-bit layers in 16 bits: for a model that only runs forward (inference).

    A layer under a mixed policy stores float32 variables and casts each one to its compute dtype every time it is
    read (Keras' autocast). In inference nothing ever needs the float32 value, so each such variable is replaced by
    one holding the cast value: the layer computes exactly what it computed before (same cast, made once), the
    model holds half the bytes for those weights and the graph no longer makes a 16-bit copy of every weight on
    each call (ResNet50-FPN at 512 px: about 170 MB less at peak). Only autocast variables of autocasting layers
    are replaced, so batch norm's statistics, and any variable a layer keeps float32 on purpose, stay float32; the
    layer's policy becomes its compute dtype (so a saved and reloaded model is built the same way). Variable names,
    paths and order are kept; assigning float32 arrays later (`set_weights`, `load_weights`) rounds them as the
    cast did. Returns the number of variables replaced.
    """
    from keras.src import backend

    replaced = 0
    for layer in model._flatten_layers(include_self=False, recursive=True):
        policy = layer.dtype_policy
        if not layer.autocast or policy.variable_dtype == policy.compute_dtype:
            continue
        changed = False
        for store_name, store in (("trainable_variables", layer._trainable_variables),
                                  ("non_trainable_variables", layer._non_trainable_variables)):
            for index, old in enumerate(list(store)):
                if not old._autocast or old.dtype != policy.variable_dtype:
                    continue
                with contextlib.ExitStack() as scopes:  # the old variable's path, one name scope per level
                    for part in old.path.split("/")[:-1]:
                        scopes.enter_context(backend.name_scope(part))
                    new = backend.Variable(initializer=backend.cast(old.value, policy.compute_dtype),
                                           dtype=policy.compute_dtype, trainable=old.trainable, name=old.name)
                # In place of the old one in the layer's own list (which fixes the order of `weights`), in Keras'
                # tracker and under the attribute that held it (e.g. Conv2D._kernel), so nothing keeps it alive.
                store[index] = new
                ids = layer._tracker.stored_ids[store_name]
                ids.discard(id(old))
                ids.add(id(new))
                for attribute, value in list(vars(layer).items()):
                    if value is old:
                        setattr(layer, attribute, new)
                replaced += 1
                changed = True
        if changed:
            layer.dtype_policy = policy.compute_dtype
    return replaced
