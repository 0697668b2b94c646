"""A layer that runs a functional sub-model in its own way (XLA: compiled.py; recomputation: recompute.py).

Shape shorthand: none of its own; the sub-model's inputs and outputs are the layer's.

`SubModel` holds the sub-model, gives its output spec, and serializes it with the layer. It is a keras.Model itself,
so that walkers of nested models (mrcnn.weights_io.all_layers: weight loading by name, set_trainable, TRAIN_BN)
reach the sub-model's layers, which keep their names and their own dtype policies.
"""

import keras


class SubModel(keras.Model):
    """Base of the layers that wrap `model` (a built functional keras.Model); subclasses implement `call`."""

    def __init__(self, model, **kwargs):
        kwargs.setdefault("autocast", False)  # the sub-model's layers keep their own dtype policies
        super().__init__(**kwargs)
        if not isinstance(model, keras.Model):
            raise TypeError(f"{type(self).__name__} '{self.name}': model must be a keras.Model, "
                            f"got {type(model).__name__}")
        self.model = model

    def compute_output_spec(self, inputs, training=None):
        return self.model.compute_output_spec(inputs)

    def get_config(self):
        config = super().get_config()
        config["model"] = keras.saving.serialize_keras_object(self.model)
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["model"] = keras.saving.deserialize_keras_object(config["model"])
        return cls(**config)
