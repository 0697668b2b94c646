"""Shared builders of the evaluation tests: box-shaped masks, records, and seeded random prediction sets."""

import types

import numpy as np
import pytest

from mrcnn.utils import extract_bboxes

H, W = 24, 30


def box_mask(y1, x1, y2, x2, shape=(H, W)):
    """bool [H, W] with the rectangle rows y1..y2-1, columns x1..x2-1 set."""
    m = np.zeros(shape, dtype=bool)
    m[y1:y2, x1:x2] = True
    return m


def stack(masks, shape=(H, W)):
    """bool [H, W, N] from a list of [H, W] masks (N may be 0)."""
    return np.stack(masks, axis=-1) if masks else np.zeros(shape + (0,), dtype=bool)


def gt_record(masks, class_ids, iscrowd=None, shape=(H, W)):
    record = {"class_ids": np.asarray(class_ids, dtype=np.int64), "masks": stack(masks, shape)}
    if iscrowd is not None:
        record["iscrowd"] = np.asarray(iscrowd, dtype=bool)
    return record


def pred_record(masks, class_ids, scores, shape=(H, W)):
    m = stack(masks, shape)
    return {"rois": extract_bboxes(m), "class_ids": np.asarray(class_ids, dtype=np.int32),
            "scores": np.asarray(scores, dtype=np.float32), "masks": m}


def random_case(seed, num_classes=3, num_images=6, height=32, width=40, crowd=0.1, max_dets=12):
    """A seeded random ground truth and prediction set: jittered copies of the truth (some with a wrong class),
    random false positives, crowd regions, distinct scores (no ties), empty images now and then."""
    rng = np.random.default_rng(seed)

    def rect():
        y, x = rng.integers(0, height - 3), rng.integers(0, width - 3)
        m = np.zeros((height, width), dtype=bool)
        m[y:y + rng.integers(2, 16), x:x + rng.integers(2, 16)] = True
        if rng.random() < 0.3:  # a notch, so masks are not all boxes
            m[y:y + 2, x:x + 2] = False
        return m if m.any() else rect()

    gts, preds = [], []
    for _ in range(num_images):
        n = int(rng.integers(0, 6))
        g_masks = [rect() for _ in range(n)]
        g_ids = rng.integers(1, num_classes + 1, n)
        gts.append(gt_record(g_masks, g_ids, iscrowd=rng.random(n) < crowd, shape=(height, width)))
        p_masks, p_ids = [], []
        for _ in range(int(rng.integers(0, max_dets + 1))):
            if n and rng.random() < 0.7:
                k = int(rng.integers(0, n))
                p_masks.append(np.roll(g_masks[k], int(rng.integers(-3, 4)), axis=int(rng.integers(0, 2))))
                p_ids.append(g_ids[k] if rng.random() < 0.8 else rng.integers(1, num_classes + 1))
            else:
                p_masks.append(rect())
                p_ids.append(rng.integers(1, num_classes + 1))
        scores = rng.permutation(np.linspace(0.05, 0.99, max(len(p_masks), 1)))[:len(p_masks)]
        preds.append(pred_record(p_masks, p_ids, scores, shape=(height, width)))
    names = ["BG"] + [f"class{k}" for k in range(1, num_classes + 1)]
    return gts, preds, names


@pytest.fixture
def perfect_case():
    """Two images, three objects of two classes, predicted exactly."""
    a, b, c = box_mask(2, 2, 10, 10), box_mask(12, 14, 20, 26), box_mask(4, 15, 9, 22)
    gts = [gt_record([a, b], [1, 2]), gt_record([c], [1])]
    preds = [pred_record([a, b], [1, 2], [0.8, 0.9]), pred_record([c], [1], [0.7])]
    return gts, preds, ["BG", "round", "square"]


@pytest.fixture
def ev():
    """The builders above, for the test modules (fixtures are how conftest helpers reach them)."""
    return types.SimpleNamespace(box_mask=box_mask, stack=stack, gt=gt_record, pred=pred_record,
                                 random_case=random_case, H=H, W=W)
