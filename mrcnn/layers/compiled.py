"""XLA for the part of Mask R-CNN that XLA can compile: the convolutional trunk (backbone, FPN and RPN head).

Shape shorthand: B: batch, H, W: image size, D: TOP_DOWN_PYRAMID_SIZE, A: anchors.

XLA compiles a graph whose shapes are fixed once the input's are. The backbone, the FPN and the RPN head are such a
graph: B x H x W in, feature maps and per-anchor outputs out. What follows is not: the proposal layer keeps the top
scores and runs non-maximum suppression, the target layer samples a data-dependent number of positives, ROIAlign and
the detection layer gather variable counts of boxes; XLA cannot compile those, so Keras' `compile(jit_compile=True)`
of the whole training step falls back to no XLA at all.

`CompiledModel` runs a functional sub-model inside `tf.function(jit_compile=True)`, forward and backward pass, while
the rest of the graph runs as usual. `Config.JIT_COMPILE` (read in mrcnn/graph.py) builds the trunk as such a
sub-model, named "backbone_fpn_rpn"; its layers keep their names, so weight files, layer regexes and TRAIN_BN work
as without it. XLA compiles once per input shape (once in training; per molded image size in inference).
"""

import keras
import tensorflow as tf

from mrcnn.layers.sub_model import SubModel


@keras.saving.register_keras_serializable(package="mrcnn")
class CompiledModel(SubModel):
    """Calls `model` (a built functional keras.Model) through `tf.function(jit_compile=jit_compile)`.

    Args:
        model: the sub-model; its inputs and outputs are this layer's (a list when it has several outputs).
        jit_compile: True compiles with XLA; False runs the same sub-model without it (for comparisons).
    The `training` flag is passed on to the sub-model (one compiled function per value). A `SubModel`: its layers
    are reachable as nested layers (mrcnn/layers/sub_model.py).
    """

    def __init__(self, model, jit_compile=True, **kwargs):
        super().__init__(model, **kwargs)
        # Not `self.jit_compile`: that is keras.Model's own setting for `compile()`, whose setter silently turns it
        # off in some cases (op determinism enabled, Apple GPUs), which would drop XLA without a word.
        self.use_xla = bool(jit_compile)
        self._functions = {}

    def _function(self, training):
        if training not in self._functions:
            model = self.model

            def run(inputs):
                return model(inputs, training=training)
            self._functions[training] = tf.function(run, jit_compile=self.use_xla, reduce_retracing=True)
        return self._functions[training]

    def call(self, inputs, training=None):
        return self._function(bool(training))(inputs)

    def get_config(self):
        config = super().get_config()
        config["jit_compile"] = self.use_xla
        return config
