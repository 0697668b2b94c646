"""Tests of mrcnn/data/annotations/classes.py: class names matched to the known classes, unknown names, aliases."""

import pytest

from mrcnn.data.annotations import read_annotations, read_coco_instances, read_via
from mrcnn.data.annotations.classes import _canonical_class, check_aliases
from tests.data.annotations.builders import CLASSES, SQUARE, coco, coco_image, coco_polygon, via_region, write_json


def test_unknown_class_name_raises_listing_known_names_or_is_skipped(root, tmp_path):
    data = coco([coco_image(1, "a.png")], [coco_polygon(1, 1, SQUARE), coco_polygon(2, 1, SQUARE, 3)],
                [{"id": 1, "name": "neutrophil"}, {"id": 3, "name": "blast"}])
    path = write_json(tmp_path / "c.json", data)
    with pytest.raises(ValueError, match=r"'blast'.*\['neutrophil', 'platelet'\]") as info:
        read_coco_instances(path, root, CLASSES)
    assert str(path) in str(info.value)
    records, report = read_coco_instances(path, root, CLASSES, skip_unknown=True)
    assert len(records[0].instances) == 1 and "unknown class name 'blast'" in report.skipped_instances[0][1]
    via = write_json(tmp_path / "v.json", {"k": {"filename": "a.png", "regions": [via_region([2, 12, 12], [3, 3, 8],
                                                                                            "blast")]}})
    with pytest.raises(ValueError, match="blast"):
        read_via(via, root, CLASSES)
    records, _ = read_coco_instances(path, root, class_names=None)  # no class list: any name is accepted
    assert [i.class_name for i in records[0].instances] == ["neutrophil", "blast"]


def test_class_names_match_spellings():
    names = ["red cell", "nucleus", "ig"]
    for name, expected in [("Nucleus", "nucleus"), ("NUCLEI", None), ("nucleuss", "nucleus"), ("Red_Cells", "red cell"),
                           ("red-cell", "red cell"), ("  red   cell ", "red cell"), ("IG", "ig"), ("IGs", "ig")]:
        if expected is None:
            with pytest.raises(ValueError, match="f.json"):
                _canonical_class(name, names, False, "f.json", "item")
        else:
            assert _canonical_class(name, names, False, "f.json", "item") == expected


def test_aliases_are_the_callers():
    names = ["ig", "platelet"]
    with pytest.raises(ValueError, match="'Mmy'"):  # no alias is built in
        _canonical_class("Mmy", names, False, "f.json", "item")
    aliases = check_aliases({" Mmy": "IG", "Thrombo-cyte": "platelet"})
    assert aliases == {"mmy": "ig", "thrombo cyte": "platelet"}  # compared as class names are
    assert _canonical_class("mmy", names, False, "f.json", "item", aliases) == "ig"
    assert _canonical_class("Thrombo_Cyte", names, False, "f.json", "item", aliases) == "platelet"
    assert check_aliases(None) == {}
    for bad in (["mmy"], {"mmy": 3}, {"": "ig"}, {"mmy": " "}):
        with pytest.raises(TypeError, match="aliases must be a dict"):
            check_aliases(bad)


def test_readers_apply_the_aliases(root, tmp_path):
    data = coco([coco_image(1, "a.png")], [coco_polygon(1, 1, SQUARE), coco_polygon(2, 1, SQUARE, 3)],
                [{"id": 1, "name": "Neutrophils"}, {"id": 3, "name": "PLT"}])
    path = write_json(tmp_path / "c.json", data)
    records, _ = read_coco_instances(path, root, CLASSES, aliases={"plt": "platelet"})
    assert [i.class_name for i in records[0].instances] == ["neutrophil", "platelet"]
    via = write_json(tmp_path / "v.json", {"k": {"filename": "a.png", "regions": [via_region([2, 12, 12], [3, 3, 8],
                                                                                            "PLT")]}})
    records, _ = read_annotations(via, root, CLASSES, aliases={"plt": "platelet"})
    assert records[0].instances[0].class_name == "platelet"
    with pytest.raises(TypeError, match="aliases"):
        read_via(via, root, CLASSES, aliases=["plt"])
