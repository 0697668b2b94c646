"""Reading the wbc_masks set (Zheng et al. 2018, dataset 1), shared by the benchmarks that score against it.

Shape shorthand:
    H, W: image height and width.

The folder holds 300 pairs NNN.bmp (RGB crop, mostly 120 x 120) + NNN.png (8-bit truth: 255 nucleus, 128 cytoplasm,
0 background) and classes.csv ("image ID,class label", 1 neutrophil, 2 lymphocyte, 3 monocyte, 4 eosinophil,
5 basophil). One white cell per image: its instance mask is png 128 | 255.
"""

import csv
import os

import numpy as np

DEFAULT_DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data", "wbc_masks")
WBC_CLASSES = {1: "neutrophil", 2: "lymphocyte", 3: "monocyte", 4: "eosinophil", 5: "basophil"}


def read_classes(data_dir):
    """{image number: class name} from data_dir/classes.csv (header "image ID,class label")."""
    path = os.path.join(data_dir, "classes.csv")
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    try:
        return {int(r[0]): WBC_CLASSES[int(r[1])] for r in rows[1:] if r}
    except (KeyError, ValueError, IndexError) as error:
        raise ValueError(f"{path}: rows must be 'image ID,class label' with labels 1-5; {error}") from error


def paths_of(data_dir, number):
    """(image path NNN.bmp, truth path NNN.png) of one image number."""
    return os.path.join(data_dir, f"{number:03d}.bmp"), os.path.join(data_dir, f"{number:03d}.png")


def read_pair(data_dir, number):
    """(image uint8 [H, W, 3], white-cell mask bool [H, W]) of one image number (mask: png 128 or 255)."""
    from PIL import Image

    image_path, truth_path = paths_of(data_dir, number)
    with Image.open(image_path) as im:
        image = np.asarray(im.convert("RGB"))
    with Image.open(truth_path) as im:
        truth = np.asarray(im)
    if truth.shape[:2] != image.shape[:2]:
        raise ValueError(f"{truth_path} is {truth.shape[:2]} but {image_path} is {image.shape[:2]}; expected one size")
    return image, truth > 0
