"""Matterport's inspection methods of `MaskRCNN`: run_graph, ancestor, the trainable layers, ImageNet weights.

Shape shorthand: B: batch, H, W: molded image size, A: anchors, K: anchors kept before NMS (PRE_NMS_LIMIT).

Matterport's inspect notebooks read named tensors of the graph:

    pillar = model.keras_model.get_layer("ROI").output
    rpn = model.run_graph([image], [
        ("rpn_class", model.keras_model.get_layer("rpn_class").output),
        ("pre_nms_anchors", model.ancestor(pillar, "ROI/pre_nms_anchors:0")),
        ("post_nms_anchor_ix", model.ancestor(pillar, "ROI/rpn_non_max_suppression:0")),
        ("proposals", pillar),
    ])

Keras 3 has no TF1 graph to search (`K.function`, `tensor.op`): `run_graph` builds a sub-model of the inference
model from its inputs to the tensors asked for and runs it; the proposal layer's steps, which happen inside one
layer, are reached through `ancestor`, which returns a `LayerStep` that `run_graph` computes with the layer's
`intermediates` method (mrcnn/layers/proposal.py) on that layer's inputs. The tensors must be outputs of layers of
the model itself: with Config.JIT_COMPILE the backbone, FPN and RPN layers sit inside one compiled layer, and the
RPN's own convolutions inside the nested `rpn_model`; ask for `rpn_class` / `rpn_bbox` (the concatenated levels)
instead.
"""

import collections
import re

import keras
import numpy as np

from mrcnn.weights_io import all_layers, weighted_layers

# Matterport's node names under the proposal layer ("ROI/<name>:0") -> the step `intermediates` returns.
_STEP_NAMES = {"pre_nms_anchors": "pre_nms_anchors", "refined_anchors": "refined_anchors",
               "refined_anchors_clipped": "refined_anchors_clipped", "rpn_non_max_suppression": "post_nms_anchor_ix",
               "post_nms_anchor_ix": "post_nms_anchor_ix"}


class LayerStep:
    """A step inside a layer's `call` (e.g. the proposal layer's "pre_nms_anchors"), which `run_graph` computes by
    running the layer's `intermediates(inputs)` on the inputs the layer received."""

    def __init__(self, layer, step):
        self.layer = layer
        self.step = step
        self.name = f"{layer.name}/{step}"

    def __repr__(self):
        return f"<LayerStep {self.name}>"


class InspectionMixin:
    """The inspection methods Matterport's notebooks call; mixed into `mrcnn.model.MaskRCNN`."""

    def find_trainable_layer(self, layer):
        """The layer that holds `layer`'s weights: through wrappers such as TimeDistributed (Matterport's helper;
        our heads use no wrappers, so this is usually `layer` itself)."""
        while isinstance(getattr(layer, "layer", None), keras.layers.Layer):
            layer = layer.layer
        return layer

    def get_trainable_layers(self):
        """The layers with weights, nested models (rpn_model, a compiled trunk) flattened into their layers, in
        graph order (Matterport listed the top level only, so its rpn_model appeared as one layer)."""
        return [self.find_trainable_layer(layer) for layer in weighted_layers(self.keras_model).values()]

    def get_imagenet_weights(self):
        """The path of the ImageNet weights of Config.BACKBONE: the Keras cache file, downloaded there once and
        hash-checked when missing (the fetch behind `--weights imagenet`; MRCNN_OFFLINE=1 forbids it). Load them
        with `model.load_weights(model.get_imagenet_weights(), by_name=True)`. ValueError for a backbone without
        ImageNet weights (e.g. "tiny")."""
        from mrcnn.weights import resolve_weights
        return resolve_weights("imagenet", backbone=self.config.BACKBONE, flag="get_imagenet_weights()")

    def ancestor(self, tensor, name, checked=None):
        """The tensor named `name` among `tensor`'s ancestors in the graph, or None (Matterport's helper).

        name: Matterport's TF1 node name, "<layer>/<step>:0" for a step inside a layer (the proposal layer "ROI"
            has "pre_nms_anchors", "refined_anchors", "refined_anchors_clipped" and "rpn_non_max_suppression" --
            also spelled ".../NonMaxSuppressionV2:0" -- giving "post_nms_anchor_ix"), or "<layer>:0" for a layer's
            output. A step comes back as a `LayerStep` for `run_graph`.
        tensor: a tensor of this model; the layer must be on its path from the inputs (or have produced it).
        checked: unused (Matterport's recursion bookkeeping).
        """
        del checked
        match = re.fullmatch(r"([^/:]+)(?:/([^/:]+))?(?:/[^:]*)?(?::\d+)?", str(name))
        if match is None:
            return None
        layer_name, step = match.groups()
        layers = {layer.name: layer for layer in all_layers(self.keras_model)}
        layer = layers.get(layer_name)
        if layer is None or not self._is_ancestor(layer, tensor):
            return None
        if step is None:
            return layer.output
        step = _STEP_NAMES.get(step)
        return LayerStep(layer, step) if step and hasattr(layer, "intermediates") else None

    def _is_ancestor(self, layer, tensor):
        if tensor is None:
            return True
        try:
            path = keras.Model(self.keras_model.input, tensor)
        except ValueError:  # not a tensor of this model's graph
            return False
        return any(known is layer for known in path.layers)

    def run_graph(self, images, outputs, image_metas=None):
        """Run the inference graph on `images` up to the named tensors; returns an OrderedDict of NumPy arrays.

        images: a list of [H, W, C] images (molded here), or molded images [B, H, W, C] when `image_metas` [B, M]
            is given. outputs: [(name, tensor)], each tensor an output of a layer of this model (e.g.
            `model.keras_model.get_layer("ROI").output`) or a `LayerStep` from `ancestor`. Each result is printed
            with `log`, as in Matterport.
        Raises ValueError for a training model, an output that is None (an ancestor not found) or not of this model.
        """
        from mrcnn.matterport_api import log

        if self.mode != "inference":
            raise ValueError("run_graph() runs the inference graph: build the model with mode='inference'")
        outputs = collections.OrderedDict(outputs)
        for key, value in outputs.items():
            if value is None:
                raise ValueError(f"run_graph: output {key!r} is None (an ancestor that was not found)")
        wanted = []  # graph tensors to compute: the outputs, and the inputs of layers whose steps are asked for
        for value in outputs.values():
            wanted += list(value.layer.input) if isinstance(value, LayerStep) else [value]
        try:
            sub_model = keras.Model(self.keras_model.input, wanted)
        except ValueError as error:
            raise ValueError(f"run_graph: the outputs must be outputs of layers of this model's graph (not inside "
                             f"rpn_model or a compiled trunk): {error}") from None
        if image_metas is None:
            molded, image_metas, _ = self.mold_inputs(images)
        else:
            molded = np.asarray(images, dtype=np.float32)
        anchors = self.get_anchors(molded.shape[1:3])
        feed = {"input_image": molded.astype(np.float32), "input_image_meta": np.asarray(image_metas, np.float32),
                "input_anchors": np.ascontiguousarray(np.broadcast_to(anchors, (len(molded),) + anchors.shape))}
        values = sub_model(feed, training=False)
        values = list(values) if isinstance(values, (list, tuple)) else [values]
        results = collections.OrderedDict()
        for key, value in outputs.items():
            if isinstance(value, LayerStep):
                count = len(value.layer.input)
                inputs, values = values[:count], values[count:]
                results[key] = np.asarray(value.layer.intermediates(inputs)[value.step])
            else:
                results[key], values = np.asarray(values[0]), values[1:]
            log(key, results[key])
        return results

    def _print_detect_inputs(self, images, molded, metas):
        """detect(verbose=1)'s lines, Matterport's: the count, each image, then the molded inputs."""
        from mrcnn.matterport_api import log

        anchors = self.get_anchors(molded.shape[1:3])
        anchors = np.broadcast_to(anchors, (len(molded),) + anchors.shape)
        log(f"Processing {len(images)} images")
        for image in images:
            log("image", image)
        log("molded_images", molded)
        log("image_metas", metas)
        log("anchors", anchors)
