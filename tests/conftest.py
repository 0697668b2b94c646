import os
import sys

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# No test downloads weights: a missing ImageNet / COCO file is an error here (tests that allow a download replace
# mrcnn.backbones.download.fetch and unset this themselves).
os.environ.setdefault("MRCNN_OFFLINE", "1")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
