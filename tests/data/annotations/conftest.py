"""Fixtures of the tests of mrcnn/data/annotations/: an image root, and a spy on the files PIL opens."""

import os

import pytest
from PIL import Image

from tests.data.annotations.builders import write_image


@pytest.fixture
def root(tmp_path):
    root = tmp_path / "data"
    write_image(root / "a.png")
    write_image(root / "sub" / "b.png", 20, 10)
    return root


@pytest.fixture
def opened(monkeypatch):
    """Paths PIL was asked to open."""
    paths = []
    original = Image.open

    def spy(path, *args, **kwargs):
        paths.append(os.path.realpath(path))
        return original(path, *args, **kwargs)
    monkeypatch.setattr(Image, "open", spy)
    return paths
