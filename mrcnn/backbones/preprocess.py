"""The input rule of every backbone: molded images in, each backbone's own conversion inside the graph.

Shape shorthand: B: batch, H, W: image height and width.

The rule (one for training and inference, whatever the weights):

1. The data pipeline always molds images the Matterport way: RGB, `Config.MEAN_PIXEL` subtracted
   (`mrcnn.data.mold.mold_image`), in training (DataGenerator) and in inference (`MaskRCNN.detect`) alike.
2. A backbone whose keras.applications ImageNet weights expect another input declares it in the registry
   (`Backbone.preprocessing`, one of keras.applications' modes "caffe", "torch", "tf"). Its builder then puts an
   `ImagePreprocess` layer, named "backbone_preprocess", at the backbone's input: it adds MEAN_PIXEL back and applies
   `keras.applications.imagenet_utils.preprocess_input(mode=...)`, Keras' own code, so the backbone sees exactly what
   keras.applications feeds it.
3. The layer is part of the graph whatever the weights (ImageNet, COCO, none, a checkpoint), so training, inference
   and a reloaded checkpoint cannot disagree, and it has no weights, so checkpoints are unaffected. Changing
   MEAN_PIXEL changes nothing the backbone sees (the layer undoes it).

    resnet50/101/152, vgg19   "caffe": RGB -> BGR, minus the ImageNet mean (103.939, 116.779, 123.68), no scaling
    densenet121/169           "torch": / 255, minus (0.485, 0.456, 0.406), divided by (0.229, 0.224, 0.225)
    resnext50, tiny, your own None: the molded image as is (no keras.applications weights exist for them)

Matterport's COCO weights were trained on RGB minus MEAN_PIXEL, not on BGR; `mrcnn.backbones.pretrained` reverses the
input channels of their first convolution when it loads them into a "caffe" backbone, which makes both agree (up to
the 0.04-pixel difference between Matterport's MEAN_PIXEL and the ImageNet mean).
"""

import keras
import numpy as np

MODES = ("caffe", "torch", "tf")
PREPROCESS_LAYER_NAME = "backbone_preprocess"


@keras.saving.register_keras_serializable(package="mrcnn")
class ImagePreprocess(keras.layers.Layer):
    """Molded images -> the input a keras.applications backbone was trained on.

    Args:
        mode: keras.applications' preprocessing mode: "caffe" (BGR, ImageNet mean subtracted), "torch" (0..1, then
            ImageNet mean and standard deviation) or "tf" (-1..1).
        mean_pixel: the 3 values of Config.MEAN_PIXEL (RGB) that the data pipeline subtracted.
    Input: [B, H, W, 3] float, RGB minus mean_pixel. Output: [B, H, W, 3] float, as
    `keras.applications.imagenet_utils.preprocess_input(image, mode=mode)` of the original RGB image.
    """

    def __init__(self, mode, mean_pixel, **kwargs):
        super().__init__(**kwargs)
        if mode not in MODES:
            raise ValueError(f"ImagePreprocess: mode={mode!r}; valid modes are {MODES}")
        mean = np.asarray(mean_pixel, dtype=np.float64).ravel()
        if mean.shape != (3,) or not np.all(np.isfinite(mean)):
            raise ValueError(f"ImagePreprocess: mean_pixel must be 3 finite numbers (RGB), got {mean_pixel!r}")
        self.mode = mode
        self.mean_pixel = [float(v) for v in mean]

    @property
    def bgr(self):
        """True when the output's channels are in BGR order (mode "caffe")."""
        return self.mode == "caffe"

    def call(self, inputs):
        image = keras.ops.cast(inputs, self.compute_dtype)
        image = image + keras.ops.convert_to_tensor(self.mean_pixel, dtype=self.compute_dtype)
        return keras.applications.imagenet_utils.preprocess_input(image, data_format="channels_last", mode=self.mode)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update({"mode": self.mode, "mean_pixel": list(self.mean_pixel)})
        return config


def add_preprocess(input_image, mode, mean_pixel, backbone_name="backbone"):
    """`input_image` [B, H, W, 3] passed through an `ImagePreprocess(mode, mean_pixel)` layer ("backbone_preprocess").

    mode None returns `input_image` unchanged. A ValueError names the backbone when mean_pixel is missing or the image
    does not have 3 channels (keras.applications' conversions are defined for RGB only).
    """
    if mode is None:
        return input_image
    if mean_pixel is None:
        raise ValueError(f"backbone {backbone_name!r} converts molded images to keras.applications' {mode!r} input and "
                         "needs mean_pixel (Config.MEAN_PIXEL) to do it")
    channels = input_image.shape[-1]
    if channels != 3:
        raise ValueError(f"backbone {backbone_name!r} expects RGB images (3 channels) for its {mode!r} preprocessing, "
                         f"got {channels} channels (Config.IMAGE_CHANNEL_COUNT); register a backbone without "
                         "preprocessing for other channel counts")
    return ImagePreprocess(mode, mean_pixel, name=PREPROCESS_LAYER_NAME)(input_image)


def find_preprocess(model):
    """The `ImagePreprocess` layer of a Keras model (nested models searched), or None."""
    for layer in model.layers:
        if isinstance(layer, ImagePreprocess):
            return layer
        if isinstance(layer, keras.Model):
            found = find_preprocess(layer)
            if found is not None:
                return found
    return None
