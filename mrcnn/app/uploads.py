"""Uploaded bytes -> an RGB image, with a plain message for each way an upload can be unusable.

Shape shorthand:
    H, W: image height and width.

The bytes are decoded by the project's own reader (mrcnn.data.image_io: header checked before any pixel is decoded,
truncated files refused, 16-bit and grayscale converted), which reads files: each upload is written for a moment to
the app's private temporary folder under a name the app makes (`upload-<random hex>`), read, and deleted. The name the
browser sent is a label only, never part of a path.
"""

import io
import os
import secrets

import numpy as np

from mrcnn.data.image_io import read_image_rgb, read_image_size

DISPLAY_MAX_SIDE = 2048  # the page's copy of a larger image is scaled down to this (the detections are not)
READABLE = "JPEG, PNG, TIFF, BMP, WebP or GIF"  # the common ones of image_io.IMAGE_FORMATS


class UploadError(ValueError):
    """An unusable upload: `message` is for the page, `detail` says what the reader found, `status` is HTTP's."""

    def __init__(self, message, detail=None, status=400):
        super().__init__(message)
        self.message, self.detail, self.status = message, detail, status


def _megabytes(n):
    """A size as the page writes it (app.js: megabytes): "20.0 MB", or "146 KB" below a megabyte."""
    return f"{n / 1048576:.1f} MB" if n >= 1048576 else f"{round(n / 1024)} KB"


def too_large(name, max_bytes, size=None):
    """The error for an upload over `max_bytes` (`size` when the request declared it, else unknown)."""
    what = f"is {_megabytes(size)}" if size is not None else f"is larger than {_megabytes(max_bytes)}"
    return UploadError(f"{name} {what}; an image may be at most {_megabytes(max_bytes)}", status=413)


def decode_upload(data, name, workdir, max_pixels):
    """uint8 [H, W, 3] from the uploaded bytes, or UploadError with a message naming `name`."""
    if not data:
        raise UploadError(f"{name} is empty (0 bytes)")
    path = os.path.join(workdir, f"upload-{secrets.token_hex(8)}")
    try:
        with open(path, "xb") as f:
            f.write(data)
        try:
            width, height = read_image_size(path, max_pixels=2 ** 62)
        except ValueError as error:
            raise UploadError(f"{name} is not an image this page can read ({READABLE}), or it is damaged",
                              detail=_detail(error, path, name)) from None
        if width * height > max_pixels:
            raise UploadError(f"{name} is {width} x {height} pixels ({width * height / 1e6:.3g} megapixels); an "
                              f"image may have at most {max_pixels / 1e6:.3g} megapixels", status=413)
        try:
            return read_image_rgb(path, max_pixels=max_pixels)
        except ValueError as error:
            raise UploadError(f"{name} could not be decoded: the file is truncated or damaged",
                              detail=_detail(error, path, name)) from None
    finally:
        if os.path.exists(path):
            os.remove(path)


def _detail(error, path, name):
    return str(error).replace(path, name)


def display_image(image, max_side=DISPLAY_MAX_SIDE):
    """(bytes, media type) of the copy the page shows: PNG, or JPEG (quality 90) scaled to `max_side` for images
    with a side longer than that (browsers show neither TIFF nor 16-bit images, so the decoded pixels are sent)."""
    from PIL import Image

    pil = Image.fromarray(np.asarray(image, dtype=np.uint8))
    buffer = io.BytesIO()
    if max(pil.size) <= max_side:
        pil.save(buffer, format="PNG")
        return buffer.getvalue(), "image/png"
    pil.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    pil.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue(), "image/jpeg"

