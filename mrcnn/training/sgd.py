"""SGD with momentum whose update of each variable is one fused kernel, as Keras 2 (Matterport's) applied it.

Keras 3's `keras.optimizers.SGD` writes the momentum update as separate tensor operations,

    m <- m * momentum - lr * g        (three temporaries the size of the variable)
    w <- w + m

and in a graph the first, `m * momentum`, needs nothing but `m`: TensorFlow's executor computes it for every
variable at the start of the step and holds them all until each variable's gradient arrives at the end of the
backward pass (ResNet50-FPN, 512 px, batch 2: about 185 MB alive at the step's memory peak). This subclass applies
the same update with TensorFlow's `ResourceApplyKerasMomentum` kernel, the one tf.keras used: a single operation
that runs once the gradient exists and updates `m` and `w` in place, no temporaries. The arithmetic is Keras' own
(`accum * momentum - grad * lr`, then `var += accum`; Nesterov `var += accum * momentum - grad * lr`); the variables,
their names, the config and the saved optimizer state are those of `keras.optimizers.SGD`, and its class name is
the same, so optimizer state files resume either way (mrcnn/training/optimizer_state.py).

`clipnorm` (Config.GRADIENT_CLIP_NORM, per gradient tensor) is folded into the same kernel: the gradient's norm is
one reduction (`tf.nn.l2_loss`, no squared copy) and a gradient whose norm exceeds `clipnorm` is scaled through the
learning rate, `lr * clipnorm / norm`, instead of through a scaled copy of the gradient (Keras computes
`g * clipnorm / max(norm, clipnorm)`: two more temporaries, and the same numbers to float32 rounding). Keras clips
each replica's gradient before the replicas' gradients are summed; here the summed gradient is clipped, which is
what one device training on the whole batch does (mrcnn/training/distribute.py's contract).

Without momentum, with `global_clipnorm` or `clipvalue`, or on a backend other than TensorFlow it is Keras' SGD; a
sparse gradient (tf.IndexedSlices) takes Keras' sparse update when nothing clips, else it is made dense and clipped
by its whole norm.
"""

import keras
import tensorflow as tf


def _handle(variable):
    """The resource handle of a Keras variable or of the per-device tf.Variable a distribution strategy passes."""
    return (variable.value if isinstance(variable, keras.Variable) else variable).handle


@keras.saving.register_keras_serializable(package="mrcnn")
class SGD(keras.optimizers.SGD):
    """`keras.optimizers.SGD` (same arguments, variables and results), each momentum update one fused kernel."""

    def _fused(self):
        return (self.momentum != 0 and keras.backend.backend() == "tensorflow"
                and not self.global_clipnorm and not self.clipvalue)

    @property
    def clips_summed_gradients(self):
        """True when `clipnorm` acts on the gradients summed over the replicas (in update_step), not on each
        replica's (mrcnn.training.distribute.global_gradients then has nothing to correct)."""
        return self._fused()

    def _clip_gradients(self, grads):
        return grads if self._fused() else super()._clip_gradients(grads)

    def update_step(self, gradient, variable, learning_rate):
        if not self._fused():
            return super().update_step(gradient, variable, learning_rate)
        if isinstance(gradient, tf.IndexedSlices):
            if not self.clipnorm:  # Keras' sparse update
                return super().update_step(gradient, variable, learning_rate)
            gradient = tf.convert_to_tensor(gradient)  # clipped by its whole norm, then a dense update
        dtype = variable.dtype
        gradient = tf.cast(gradient, dtype)
        learning_rate = tf.cast(learning_rate, dtype)
        if self.clipnorm:
            clip = tf.constant(self.clipnorm, dtype)
            norm = tf.sqrt(2.0 * tf.nn.l2_loss(gradient))
            learning_rate = learning_rate * (clip / tf.maximum(norm, clip))  # exactly lr when norm <= clipnorm
        momentum = self.momentums[self._get_variable_index(variable)]
        tf.raw_ops.ResourceApplyKerasMomentum(
            var=_handle(variable), accum=_handle(momentum), lr=learning_rate, grad=gradient,
            momentum=tf.cast(self.momentum, dtype), use_locking=False, use_nesterov=bool(self.nesterov))
