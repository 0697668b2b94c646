"""Two datasets trained on together, each with its share of the images drawn: a lab's few verified images mixed with
the many of the set the model was trained on, so that fine-tuning on the first does not make the model forget the
second.

Shape shorthand: H, W: an image's height and width, N: instances of one image.

`MixedDataset(parts, shares)` registers every image of each prepared part `copies` times, the copies chosen so that
part k makes up about shares[k] of the images (a part of 50 images at share 0.5 beside one of 2,400 is registered
48 times); `copies` is at least 1, so no image is left out. The training batches draw images uniformly from the
registered ones (mrcnn/data/generator.py), so on average shares[k] of every batch comes from part k, and each copy of
an image gets its own augmentation. Image i loads part `image_info[i]["part"]`'s image `base_id`; the classes are the
parts' (which must be the same names in the same order), so class ids mean the same in every part.
"""

from mrcnn.data.dataset import Dataset


def copies_for(sizes, shares):
    """[copies of part k] so that part k makes up about shares[k] of the registered images (each at least 1)."""
    sizes, shares = [int(s) for s in sizes], [float(s) for s in shares]
    if len(sizes) != len(shares) or not sizes:
        raise ValueError(f"give one share per part: {len(sizes)} parts, shares {shares}")
    if min(sizes) < 1:
        raise ValueError(f"every part needs an image; sizes {sizes}")
    if any(not 0 < s < 1 for s in shares) or abs(sum(shares) - 1) > 1e-6:
        raise ValueError(f"shares must be in (0, 1) and sum to 1, got {shares}")
    # the part with the most images per unit of share is registered once; the others are repeated to match it
    unit = max(size / share for size, share in zip(sizes, shares))
    return [max(1, round(unit * share / size)) for size, share in zip(sizes, shares)]


class MixedDataset(Dataset):
    """Prepared datasets with the same classes as one, each part at its share of the images (see the module notes).

    Args:
        parts: prepared Datasets, e.g. [a lab's verified images, PBC's training images].
        shares: the fraction of the images each part should make up (summing to 1).
    `copies` and `sizes` say how each part was registered; `part_of(image_id)` gives an image's part.
    """

    def __init__(self, parts, shares):
        super().__init__()
        parts = list(parts)
        for k, part in enumerate(parts):
            if not hasattr(part, "num_images"):
                raise ValueError(f"MixedDataset: part {k} ({type(part).__name__}) is not prepared")
            if list(part.class_names) != list(parts[0].class_names):
                raise ValueError(f"MixedDataset: part {k} has the classes {list(part.class_names)}, part 0 "
                                 f"{list(parts[0].class_names)}: the parts must have the same classes")
        self.parts = parts
        self.sizes = [part.num_images for part in parts]
        self.copies = copies_for(self.sizes, shares)
        for info in parts[0].class_info[1:]:
            self.add_class(info["source"], info["id"], info["name"])
        for k, (part, copies) in enumerate(zip(parts, self.copies)):
            for copy in range(copies):
                for base_id in part.image_ids:
                    info = part.image_info[base_id]
                    self.add_image(info["source"], image_id=f"part{k}-{copy}-{info['id']}", path=info.get("path"),
                                   part=k, base_id=int(base_id))

    def part_of(self, image_id):
        return self.image_info[image_id]["part"]

    def _base(self, image_id):
        info = self.image_info[image_id]
        return self.parts[info["part"]], info["base_id"]

    def image_reference(self, image_id):
        part, base_id = self._base(image_id)
        return part.image_reference(base_id) or part.image_info[base_id].get("path") or str(base_id)

    def load_image(self, image_id):
        part, base_id = self._base(image_id)
        return part.load_image(base_id)

    def load_mask(self, image_id):
        part, base_id = self._base(image_id)
        return part.load_mask(base_id)
