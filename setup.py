"""Installs the mrcnn package: `pip install -e .` (requirements in requirements.txt)."""

import os

from setuptools import find_packages, setup

HERE = os.path.dirname(os.path.abspath(__file__))


def read_requirements(name="requirements.txt"):
    with open(os.path.join(HERE, name), encoding="utf-8") as f:
        lines = [line.split("#")[0].strip() for line in f]
    runtime_exclude = ("pytest", "hypothesis", "ipykernel", "nbclient", "nbformat", "httpx2", "selenium")  # tests'

    return [line for line in lines if line and not line.startswith(runtime_exclude)]


def read_version():
    with open(os.path.join(HERE, "mrcnn", "__init__.py"), encoding="utf-8") as f:
        for line in f:
            if line.startswith("__version__"):
                return line.split("=")[1].strip().strip('"')
    raise RuntimeError("no __version__ in mrcnn/__init__.py")


setup(
    name="mrcnn",
    version=read_version(),
    description="Mask R-CNN for blood smears: Matterport's Mask R-CNN, native on Keras 3 / TensorFlow 2",
    long_description=open(os.path.join(HERE, "README.md"), encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="MIT",
    python_requires=">=3.10",
    packages=find_packages(include=["mrcnn", "mrcnn.*"]),
    install_requires=read_requirements(),
    extras_require={"app": read_requirements("requirements-app.txt"),  # the web page: pip install -e .[app]
                    "export": read_requirements("requirements-export.txt")},  # ONNX, LiteRT: pip install -e .[export]
    package_data={"mrcnn.app": ["static/*.html", "static/*.js", "static/*.css", "static/*.svg"]},
    classifiers=[
        "Programming Language :: Python :: 3",
        "Topic :: Scientific/Engineering :: Image Recognition",
        "Topic :: Scientific/Engineering :: Medical Science Apps.",
    ],
)
