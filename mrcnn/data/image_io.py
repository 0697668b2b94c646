"""Reading image files safely: the header is checked before any pixel is decoded.

Shape shorthand:
    H, W: image height and width.

`read_image_rgb(path)` is what `mrcnn.utils.Dataset.load_image` uses; `read_image_size(path)` reads the header only
(the annotation readers of mrcnn/data/annotations use it to check images without decoding them). Both refuse, with a
ValueError naming the file and what is wrong:
    a path that does not exist or is not a regular file (a folder, a device, a pipe) ........... nothing is opened
    an empty file (0 bytes) ................................................................ nothing is decoded
    bytes that are not an image of IMAGE_FORMATS (PIL) or a TIFF (tifffile) ............... nothing is decoded
    a header declaring 0 pixels, or more than `max_pixels` (MAX_IMAGE_PIXELS = 100 megapixels by default; a
        30000 x 30000 header is refused after reading a few bytes), or (TIFF read by tifffile) more than
        max_pixels x MAX_BYTES_PER_PIXEL bytes of pixel data ............................... nothing is decoded
    truncated or corrupt pixel data: an error, never an image padded with gray (even when a library has set
        PIL.ImageFile.LOAD_TRUNCATED_IMAGES)
    pixels that decode to an unsupported shape or type (e.g. 32-bit integers above 65535, floats outside [0, 1])
A file whose pixel data is complete but whose trailing bytes are missing (a PNG without its IEND chunk, a BMP
without padding) decodes to the full, correct image and is accepted.

PIL reads the formats in IMAGE_FORMATS (others, e.g. EPS, which PIL renders with Ghostscript, are refused). TIFF
files that PIL cannot decode (float RGB, 16-bit RGB, ...) are read by tifffile: the first page only, its size checked
from the header first.
"""

import contextlib
import os
import struct
import threading
import warnings

import numpy as np

MAX_IMAGE_PIXELS = 100_000_000  # images whose header declares more pixels are refused before decoding
MAX_BYTES_PER_PIXEL = 8  # tifffile: pages that would decode to more than max_pixels x this many bytes are refused
# File-name endings of images that folders are searched for (detect --images DIR, the PBC folders, annotate).
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")
IMAGE_FORMATS = ("BMP", "DIB", "GIF", "JPEG", "JPEG2000", "PNG", "PPM", "TIFF", "WEBP")  # JPEG includes MPO
TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")  # classic and BigTIFF, both byte orders

# What PIL and tifffile raise on malformed files (beyond OSError): a corrupt header can surface as any of these.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, struct.error, IndexError, KeyError, TypeError,
                  ZeroDivisionError, OverflowError, RuntimeError, AttributeError, NotImplementedError)
_PIL_TO_RGB_MODES = ("CMYK", "YCbCr", "LAB", "HSV", "RGBX")
_TRUNCATION_LOCK = threading.Lock()


def read_image_size(path, max_pixels=MAX_IMAGE_PIXELS):
    """(width, height) from an image file's header without decoding it.

    ValueError naming the file when it is missing, not a regular file, empty, has no readable image header,
    declares zero pixels, or declares more than `max_pixels` pixels.
    """
    path = _checked_file(path)
    pil_error = None
    try:
        with _open_pil(path, max_pixels) as image:
            width, height = image.size
    except ValueError as error:
        if not _is_tiff(path) or isinstance(error, _Refused):
            raise
        pil_error = error
    if pil_error is not None:
        width, height = _tiff_size(path, pil_error)
    return _checked_size(path, width, height, max_pixels)


def read_image_rgb(path, max_pixels=MAX_IMAGE_PIXELS):
    """Read an image file as uint8 [H, W, 3]: grayscale -> RGB, alpha dropped, 16-bit scaled to 8-bit.

    The header's size is checked against `max_pixels` before decoding. Raises ValueError naming the file for
    every problem listed in the module notes.
    """
    path = _checked_file(path)
    try:
        with _open_pil(path, max_pixels) as pil:
            _checked_size(path, *pil.size, max_pixels)
            with _truncated_files_refused():
                pil.load()
            if pil.mode in ("P", "PA"):
                pil = pil.convert("RGBA")
            elif pil.mode == "1":
                pil = pil.convert("L")
            elif pil.mode in _PIL_TO_RGB_MODES:
                pil = pil.convert("RGB")
            image = np.array(pil)
    except _DECODE_ERRORS as error:
        if isinstance(error, _Refused):
            raise
        if not _is_tiff(path):
            if isinstance(error, ValueError) and path in str(error):
                raise
            raise ValueError(f"cannot read image file {path}: {type(error).__name__}: {error}") from error
        image = _read_tiff(path, max_pixels, error)
    if image.ndim == 3 and image.shape[-1] in (1, 2):  # gray or gray + alpha
        image = image[..., 0]
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    if image.ndim != 3 or image.shape[-1] not in (3, 4):
        raise ValueError(f"image file {path} decodes to shape {image.shape}; expected [H, W], [H, W, 3] or "
                         "[H, W, 4]")
    return np.ascontiguousarray(_to_uint8(image[..., :3], path))


# ---- checks ----------------------------------------------------------------------------------------------------------

class _Refused(ValueError):
    """The header declares what is refused (a size, a sample count): no fallback reader tries the file."""


def _checked_file(path):
    """`path` as a str after checking that it is a non-empty regular file."""
    try:
        path = os.fspath(path)
    except TypeError:
        raise ValueError(f"image path must be a str or os.PathLike, got {type(path).__name__} {path!r:.80}") from None
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    if "\x00" in path:
        raise ValueError(f"image path {path!r} holds a NUL byte")
    if not os.path.exists(path):
        raise ValueError(f"image file {path} does not exist")
    if not os.path.isfile(path):
        raise ValueError(f"image file {path} does not exist as a regular file (it is a folder, device or pipe)")
    if os.path.getsize(path) == 0:
        raise ValueError(f"cannot read the image header of {path}: the file is empty (0 bytes)")
    return path


def _checked_size(path, width, height, max_pixels):
    """(width, height) as ints, or a ValueError when the header declares no pixels or more than max_pixels."""
    width, height = int(width), int(height)
    if width <= 0 or height <= 0:
        raise _Refused(f"image file {path} declares {width} x {height} pixels")
    if width * height > max_pixels:
        raise _Refused(f"image file {path} declares {width} x {height} = {width * height} pixels, more than the "
                         f"limit of {max_pixels}; it is not decoded")
    return width, height


# ---- PIL -------------------------------------------------------------------------------------------------------------

def _open_pil(path, max_pixels):
    """PIL's lazy Image.open restricted to IMAGE_FORMATS; ValueError naming the file when it is not one."""
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # our own limit applies
            return Image.open(path, formats=IMAGE_FORMATS)
    except Image.DecompressionBombError as error:
        # PIL refuses headers past 2 x its MAX_IMAGE_PIXELS (179 MP) before the caller's limit is seen: the header
        # is read again without PIL's check, so that `max_pixels` alone decides (and the message gives the size).
        image = _open_pil_unchecked(path)
        if image is None:
            raise _Refused(f"image file {path} declares more pixels than PIL accepts ({error}), more than the limit "
                           f"of {max_pixels}; it is not decoded") from error
        return image
    except _DECODE_ERRORS as error:
        raise ValueError(f"cannot read the image header of {path}: not an image of the formats "
                         f"{', '.join(IMAGE_FORMATS)}, or a corrupt one ({type(error).__name__}: {error})") from error


def _open_pil_unchecked(path):
    """The lazy PIL image of `path` opened as Image.open does (its 16-byte prefix picks the format among
    IMAGE_FORMATS) but without PIL's decompression-bomb check; None when no format reads its header."""
    from PIL import Image

    Image.init()
    with open(path, "rb") as f:
        prefix = f.read(16)
    for name in IMAGE_FORMATS:
        factory, accept = Image.OPEN.get(name, (None, None))
        if factory is None or (accept is not None and not accept(prefix)):
            continue
        try:
            return factory(path)
        except _DECODE_ERRORS:
            continue
    return None


@contextlib.contextmanager
def _truncated_files_refused():
    """Decode with PIL.ImageFile.LOAD_TRUNCATED_IMAGES off, so that a truncated file raises instead of being padded.

    The flag is global: when some library has turned it on, it is turned off for the decode under a lock (decodes
    then run one at a time) and restored afterwards. When it is off, nothing is locked.
    """
    from PIL import ImageFile

    with _TRUNCATION_LOCK:
        lenient = ImageFile.LOAD_TRUNCATED_IMAGES
    if not lenient:
        yield
        return
    with _TRUNCATION_LOCK:
        lenient = ImageFile.LOAD_TRUNCATED_IMAGES
        ImageFile.LOAD_TRUNCATED_IMAGES = False
        try:
            yield
        finally:
            ImageFile.LOAD_TRUNCATED_IMAGES = lenient


# ---- TIFF through tifffile -------------------------------------------------------------------------------------------

def _is_tiff(path):
    with open(path, "rb") as f:
        return f.read(4) in TIFF_MAGIC


def _tiff_size(path, pil_error):
    """(width, height) of a TIFF's first page from its header (tifffile; nothing is decoded)."""
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            if not len(tif.pages):
                raise ValueError("no image in the file")
            page = tif.pages.first
            return int(page.imagewidth), int(page.imagelength)
    except _DECODE_ERRORS as error:
        raise _tiff_error(path, pil_error, error) from error


def _read_tiff(path, max_pixels, pil_error):
    """The first page of a TIFF as [H, W] or [H, W, S], its header's size checked before decoding (tifffile)."""
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            if not len(tif.pages):
                raise ValueError("no image in the file")
            page = tif.pages.first
            _checked_size(path, page.imagewidth, page.imagelength, max_pixels)
            if int(page.samplesperpixel) > 4:
                raise _Refused(f"image file {path} has {page.samplesperpixel} samples per pixel; at most 4 (RGBA) "
                               "are supported")
            if int(page.nbytes) > max_pixels * MAX_BYTES_PER_PIXEL:
                raise _Refused(f"image file {path} would decode to {page.nbytes} bytes ({page.dtype} x "
                               f"{page.shape}), more than the limit of {max_pixels} pixels x "
                               f"{MAX_BYTES_PER_PIXEL} bytes; it is not decoded")
            image, axes = page.asarray(), page.axes
    except _Refused:
        raise
    except _DECODE_ERRORS as error:
        raise _tiff_error(path, pil_error, error) from error
    if len(axes) != image.ndim:
        raise ValueError(f"image file {path} decodes to shape {image.shape} but its header declares axes {axes!r}")
    keep = [i for i, axis in enumerate(axes) if axis in "YXS" or image.shape[i] != 1]
    image = image.reshape([image.shape[i] for i in keep])
    axes = "".join(axes[i] for i in keep)
    if axes not in ("YX", "YXS", "SYX"):
        raise ValueError(f"image file {path} decodes to axes {axes!r} of shape {image.shape}; expected one "
                         "2-D image (YX, YXS or SYX)")
    if axes == "SYX":
        image = np.moveaxis(image, 0, -1)
    return image


def _tiff_error(path, pil_error, error):
    return ValueError(f"cannot read image file {path}: PIL: {pil_error}; tifffile: {type(error).__name__}: {error}")


# ---- pixels ----------------------------------------------------------------------------------------------------------

def _to_uint8(image, path):
    """Bring pixels to uint8: 16-bit keeps its high byte (0..65535 -> 0..255); floats in [0, 1] x 255."""
    if image.dtype == np.uint8:
        return image
    if image.dtype == bool:
        return image.astype(np.uint8) * 255
    if image.size == 0:
        raise ValueError(f"image file {path} holds no pixels (shape {image.shape})")
    low, high = image.min(), image.max()
    if image.dtype.kind in "iu":
        if low < 0 or high > 65535:
            raise ValueError(f"image file {path} has {image.dtype} pixels in [{low}, {high}]; "
                             f"only 8-bit and 16-bit images (0..65535) are supported")
        return (image.astype(np.uint32) >> 8).astype(np.uint8)  # what PIL does to 16-bit RGB
    if image.dtype.kind == "f":
        if not (low >= 0 and high <= 1):
            raise ValueError(f"image file {path} has float pixels in [{low}, {high}]; "
                             f"float images must lie in [0, 1]")
        return np.rint(image * 255.0).astype(np.uint8)
    raise ValueError(f"image file {path} has unsupported pixel type {image.dtype}")


def list_image_files(paths, flag="--images"):
    """The image files `paths` name: files as given, and below each folder every file ending in IMAGE_EXTENSIONS
    (the folders in sorted order). A file named twice (alone and inside a folder also given) is listed once, at its
    first place.

    Raises FileNotFoundError for a path that does not exist and ValueError when no image file is found; both
    messages start with `<flag> <path>:`.
    """
    files = {}
    for path in paths:
        if os.path.isdir(path):
            for root, _, names in sorted(os.walk(path)):
                for name in sorted(names):
                    if name.lower().endswith(IMAGE_EXTENSIONS):
                        found = os.path.join(root, name)
                        files.setdefault(os.path.realpath(found), found)
        elif os.path.isfile(path):
            files.setdefault(os.path.realpath(path), path)
        else:
            raise FileNotFoundError(f"{flag} {path}: no such file or folder")
    if not files:
        raise ValueError(f"{flag} {' '.join(map(str, paths))}: no image files ({', '.join(IMAGE_EXTENSIONS)})")
    return list(files.values())

