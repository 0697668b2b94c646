"""Hostile image files: every one is a ValueError naming the file, read quickly and without decoding what a header
declares too large. Hypothesis fuzzes random bytes, truncations and corruptions of valid files, and crafted headers."""

import io
import os
import resource
import struct
import time
import tracemalloc
import zlib

import numpy as np
import pytest
import tifffile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageFile

from mrcnn import utils
from mrcnn.data.image_io import MAX_IMAGE_PIXELS, read_image_rgb, read_image_size

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # PIL warns about the corrupt files it reads
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
PIXELS = np.random.default_rng(0).integers(0, 256, (12, 10, 3), dtype=np.uint8)


def _encode(fmt, **kwargs):
    buffer = io.BytesIO()
    Image.fromarray(PIXELS).save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def _float_tiff():
    """An RGB float TIFF: PIL cannot open it, so it goes through the tifffile reader."""
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, (PIXELS / 255.0).astype(np.float32))
    return buffer.getvalue()


VALID = {"png": _encode("PNG"), "jpg": _encode("JPEG", quality=95), "tif": _encode("TIFF"), "bmp": _encode("BMP"),
         "lzw.tif": _encode("TIFF", compression="tiff_lzw"), "float.tif": _float_tiff()}


def _write(folder, name, data):
    path = folder / name
    path.write_bytes(data)
    return str(path)


def _png_header(width, height):
    """A PNG whose IHDR declares width x height and that holds no pixel data."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)) \
        + chunk(b"IEND", b"")


def _bmp_header(width, height):
    """A 24-bit BMP header declaring width x height, with no pixel data."""
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, 0, 2835, 2835, 0, 0)
    return b"BM" + struct.pack("<IHHI", 54, 0, 0, 54) + info


def _tiff_with_size(width, height):
    """The float TIFF (tifffile's path) with its ImageWidth / ImageLength tags rewritten."""
    data = bytearray(VALID["float.tif"])
    with tifffile.TiffFile(io.BytesIO(bytes(data))) as tif:
        tags = tif.pages.first.tags
        for name, value in (("ImageWidth", width), ("ImageLength", height)):
            tag = tags[name]
            fmt = "<H" if int(tag.dtype) == 3 else "<I"
            data[tag.valueoffset:tag.valueoffset + struct.calcsize(fmt)] = struct.pack(fmt, value)
    return bytes(data)


def _expect_value_error(path, reader=read_image_rgb):
    with pytest.raises(ValueError) as info:
        reader(path)
    assert path in str(info.value)
    return str(info.value)


@pytest.mark.parametrize("name", sorted(VALID))
def test_valid_files_decode(tmp_path, name):
    image = read_image_rgb(_write(tmp_path, name, VALID[name]))
    assert image.dtype == np.uint8 and image.shape == (12, 10, 3)
    if name != "jpg":
        np.testing.assert_array_equal(image, PIXELS)
    assert read_image_size(str(tmp_path / name)) == (10, 12)


def test_paths_that_are_not_image_files(tmp_path):
    assert "does not exist" in _expect_value_error(str(tmp_path / "missing.png"))
    assert "not exist as a regular file" in _expect_value_error(str(tmp_path))
    fifo = str(tmp_path / "pipe.png")
    os.mkfifo(fifo)  # opening it would block forever
    assert "not exist as a regular file" in _expect_value_error(fifo)
    assert "empty (0 bytes)" in _expect_value_error(_write(tmp_path, "empty.jpg", b""))
    assert "not an image" in _expect_value_error(_write(tmp_path, "text.png", b"hello, not an image"))
    for reader in (read_image_rgb, read_image_size):
        _expect_value_error(str(tmp_path / "missing.png"), reader)
        _expect_value_error(_write(tmp_path, "empty.jpg", b""), reader)


def test_formats_outside_the_list_are_refused(tmp_path):
    # PIL would hand an EPS file to Ghostscript.
    eps = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n0 0 moveto 10 10 lineto stroke\n"
    message = _expect_value_error(_write(tmp_path, "drawing.eps", eps))
    assert "not an image of the formats" in message


@pytest.mark.parametrize("make", [_png_header, _bmp_header, _tiff_with_size])
def test_huge_headers_are_refused_without_decoding(tmp_path, make):
    path = _write(tmp_path, "huge.img", make(30000, 30000))
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    start = time.perf_counter()
    try:
        for reader in (read_image_rgb, read_image_size):
            message = _expect_value_error(path, reader)
            assert "30000" in message or "900000000" in message
            assert "limit" in message and "not decoded" in message
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - start < 2.0
    assert peak < 2 ** 20, "nothing of the image's size was allocated"
    # ru_maxrss (KiB on Linux) would jump by gigabytes if 30000 x 30000 x 3 bytes had been allocated and touched.
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before < 200 * 1024


@pytest.mark.parametrize("make", [_png_header, _bmp_header])
def test_headers_past_pils_own_bomb_limit_are_judged_by_max_pixels(tmp_path, make):
    """PIL refuses headers past 179 MP by itself; the caller's max_pixels decides instead, and the size is named."""
    path = _write(tmp_path, "wide.img", make(20000, 10000))  # 200 MP
    assert read_image_size(path, max_pixels=2 ** 62) == (20000, 10000)
    message = _expect_value_error(path, lambda p: read_image_size(p, max_pixels=16_000_000))
    assert "declares 20000 x 10000 = 200000000 pixels, more than the limit of 16000000" in message


@pytest.mark.parametrize("make", [_png_header, _bmp_header, _tiff_with_size])
def test_header_limit_and_zero_sizes(tmp_path, make):
    wide = _write(tmp_path, "wide.img", make(12000, 9000))  # 108 MP: below PIL's own error, above ours
    assert "more than the limit of 100000000" in _expect_value_error(wide)
    assert "limit of 100" in _expect_value_error(_write(tmp_path, "small.img", make(11, 10)),
                                                 lambda p: read_image_rgb(p, max_pixels=100))
    for width, height in ((0, 10), (10, 0)):
        _expect_value_error(_write(tmp_path, f"zero{width}.img", make(width, height)))


def test_truncated_files_are_errors_even_when_pil_is_told_to_pad_them(tmp_path, monkeypatch):
    data = VALID["jpg"]
    path = _write(tmp_path, "cut.jpg", data[:len(data) // 2])
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    assert "truncated" in _expect_value_error(path)
    assert ImageFile.LOAD_TRUNCATED_IMAGES is True, "the global flag is restored"


def test_dataset_load_image_uses_the_shared_reader_and_its_limit(tmp_path):
    class Small(utils.Dataset):
        max_pixels = 100

    dataset = Small()
    dataset.add_image("x", 0, _write(tmp_path, "a.png", VALID["png"]))
    dataset.prepare()
    assert utils.Dataset.max_pixels == MAX_IMAGE_PIXELS == 100_000_000
    with pytest.raises(ValueError, match="12 = 120 pixels, more than the limit of 100"):
        dataset.load_image(0)


def _result_is_valid_or_value_error(path, reference=None):
    """Read `path`: a ValueError naming it, or a uint8 [H, W, 3] image (equal to `reference` when given)."""
    try:
        image = read_image_rgb(path)
    except ValueError as error:
        assert path in str(error)
        return None
    assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[-1] == 3
    if reference is not None:
        np.testing.assert_array_equal(image, reference)
    return image


@FUZZ
@given(data=st.binary(max_size=4096), prefix=st.sampled_from([b"", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"BM",
                                                              b"II*\x00", b"MM\x00*", b"GIF89a"]))
def test_fuzz_random_bytes(tmp_path, data, prefix):
    path = _write(tmp_path, "random.img", prefix + data)
    _result_is_valid_or_value_error(path)
    try:
        read_image_size(path)
    except ValueError as error:
        assert path in str(error)


@FUZZ
@given(name=st.sampled_from(sorted(VALID)), fraction=st.floats(0.0, 1.0, exclude_max=True))
def test_fuzz_truncated_files(tmp_path, name, fraction):
    data = VALID[name]
    cut = data[:int(len(data) * fraction)]
    reference = read_image_rgb(_write(tmp_path, "whole." + name, data))
    # A truncated file is an error, or (when only trailing bytes after the pixels are gone) the complete image;
    # never an image padded with gray.
    _result_is_valid_or_value_error(_write(tmp_path, "cut." + name, cut), reference)


@FUZZ
@given(name=st.sampled_from(sorted(VALID)), edits=st.lists(st.tuples(st.floats(0.0, 1.0, exclude_max=True),
                                                                       st.integers(0, 255)), min_size=1, max_size=8))
def test_fuzz_corrupted_bytes(tmp_path, name, edits):
    data = bytearray(VALID[name])
    for where, value in edits:
        data[int(len(data) * where)] = value
    _result_is_valid_or_value_error(_write(tmp_path, "corrupt." + name, bytes(data)))


@FUZZ
@given(make=st.sampled_from([_png_header, _bmp_header, _tiff_with_size]),
       width=st.integers(0, 2 ** 16 - 1), height=st.integers(0, 2 ** 16 - 1))
def test_fuzz_declared_sizes(tmp_path, make, width, height):
    path = _write(tmp_path, "declared.img", make(width, height))
    start = time.perf_counter()
    try:
        image = read_image_rgb(path)
    except ValueError as error:
        assert path in str(error)
        assert "limit" in str(error) or width * height <= MAX_IMAGE_PIXELS
    else:  # the PNG and BMP headers hold no pixels; the TIFF's 12 x 10 x 3 floats cover a small declared size
        assert make is _tiff_with_size and image.shape == (height, width, 3) and width * height <= 120
    assert time.perf_counter() - start < 3.0  # a decode of the declared size would take longer


def test_tiff_pixel_bytes_are_bounded_too(tmp_path):
    path = str(tmp_path / "deep.tif")
    tifffile.imwrite(path, np.zeros((100, 100, 4), np.float32), compression="zlib")  # 160000 bytes of pixels
    assert read_image_rgb(path, max_pixels=20_000).shape == (100, 100, 3)
    message = _expect_value_error(path, lambda p: read_image_rgb(p, max_pixels=15_000))
    assert "160000 bytes" in message and "not decoded" in message
