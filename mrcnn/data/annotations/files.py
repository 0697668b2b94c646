"""The files a reader touches: the annotation JSON (size-limited, UTF-8, parsed with errors naming the file) and the
image paths it names (never outside the image root, headers read but nothing decoded).

Shape shorthand: none (paths and sizes).
"""

import json
import os
import re
from pathlib import PureWindowsPath

from mrcnn.data.image_io import read_image_size
from mrcnn.data.annotations.records import _Skip

MAX_JSON_BYTES = 512 * 2 ** 20  # annotation files above this size are refused before parsing


def load_json(json_path, max_bytes=MAX_JSON_BYTES):
    """Parse a JSON file; ValueError naming the file when it is missing, empty, too large or not valid JSON."""
    path = os.fspath(json_path)
    if not os.path.exists(path):
        raise ValueError(f"annotation file {path} does not exist")
    if not os.path.isfile(path):
        raise ValueError(f"annotation file {path} is not a regular file")
    size = os.path.getsize(path)
    if size > max_bytes:
        raise ValueError(f"annotation file {path} has {size} bytes, more than the limit of {max_bytes}")
    try:
        with open(path, "rb") as handle:
            text = handle.read().decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ValueError(f"annotation file {path} is not UTF-8 text: {error}") from error
    except OSError as error:
        raise ValueError(f"cannot read annotation file {path}: {error}") from error
    if not text.strip():
        raise ValueError(f"annotation file {path} is empty; expected COCO or VIA JSON")
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"annotation file {path} is not valid JSON: {error}") from error
    except RecursionError as error:
        raise ValueError(f"annotation file {path} nests JSON too deeply to be an annotation file") from error


def safe_image_path(image_root, file_name):
    """Real path of `file_name` inside `image_root`; ValueError (the reason) when it could lead outside.

    Refuses non-strings, empty names, NUL bytes, URLs, absolute paths (POSIX or Windows), any ".." component and
    names that resolve outside the root through symbolic links. Backslashes count as separators. Nothing is opened.
    """
    if not isinstance(file_name, str) or not file_name.strip():
        raise ValueError(f"file name must be a non-empty string, got {file_name!r}")
    if "\x00" in file_name:
        raise ValueError(f"file name {file_name!r} holds a NUL byte")
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", file_name):
        raise ValueError(f"file name {file_name!r} is a URL; only files under the image root are read")
    if os.path.isabs(file_name) or PureWindowsPath(file_name).is_absolute() or PureWindowsPath(file_name).drive \
            or file_name.startswith(("/", "\\")):
        raise ValueError(f"file name {file_name!r} is an absolute path; it must be relative to the image root")
    parts = re.split(r"[\\/]+", file_name)
    if ".." in parts:
        raise ValueError(f"file name {file_name!r} contains '..'; it must stay inside the image root")
    root = os.path.realpath(image_root)
    candidate = os.path.realpath(os.path.join(root, *[p for p in parts if p not in ("", ".")]))
    if os.path.commonpath([root, candidate]) != root:
        raise ValueError(f"file name {file_name!r} resolves to {candidate}, outside the image root {root} "
                         "(a symbolic link?)")
    return candidate


class _Resolver:
    """file name -> (real path, (width, height)), or _Skip. With by_basename, a file name that is not found under
    the root as written is looked up anywhere below it: the one file whose path ends with it (MakeSense exports bare
    names; a file annotated inside root/train/ may be named "neutrophil/x.jpg")."""

    def __init__(self, image_root, max_pixels, by_basename):
        if not os.path.isdir(image_root):
            raise ValueError(f"image root {image_root} is not a directory")
        self.root, self.max_pixels, self.by_basename = os.path.realpath(image_root), max_pixels, by_basename
        self._index = None

    def _find(self, name):
        """The one file under the root whose relative path ends with `name` (compared by path components)."""
        if self._index is None:
            self._index = {}
            for folder, _, files in os.walk(self.root):
                for file in files:
                    self._index.setdefault(file, []).append(os.path.relpath(os.path.join(folder, file), self.root))
        parts = [p for p in re.split(r"[\\/]+", name) if p not in ("", ".")]
        hits = [h for h in self._index.get(parts[-1], []) if h.split(os.sep)[-len(parts):] == parts]
        if len(hits) > 1:
            raise _Skip(f"file name {name!r} matches {len(hits)} files under {self.root}: {sorted(hits)[:3]}")
        return hits[0] if hits else None

    def __call__(self, file_name):
        try:
            path = safe_image_path(self.root, file_name)
            if self.by_basename and not os.path.exists(path):
                found = self._find(file_name)
                path = safe_image_path(self.root, found) if found else path
            return path, read_image_size(path, self.max_pixels)
        except ValueError as error:
            raise _Skip(str(error)) from None
