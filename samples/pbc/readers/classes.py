"""Class names as annotators write them, matched to the known classes (case, separators, plurals, aliases).

Shape shorthand: none (strings).
"""

from samples.pbc.readers.records import _Skip


# Other names of the PBC classes found in labelling tools and papers (after _class_key): the paper itself calls the
# immature granulocytes "Mmy", and platelets are also thrombocytes.
CLASS_ALIASES = {
    "mmy": "ig", "immature granulocyte": "ig", "immature granulocytes": "ig", "thrombocyte": "platelet",
    "thrombocytes": "platelet", "plt": "platelet",
}


def _class_key(name):
    """Lower case, '_' and '-' as spaces, one space between words."""
    return " ".join(name.strip().lower().replace("_", " ").replace("-", " ").split())


def _canonical_class(name, class_names, skip_unknown, json_path, item):
    """The class name as spelled in class_names, matched ignoring case, '_' / '-' / spaces, a plural 's' and the
    aliases of CLASS_ALIASES; ValueError or _Skip when unknown."""
    if not isinstance(name, str) or not name.strip():
        raise _Skip(f"class name must be a non-empty string, got {name!r:.40}")
    if class_names is None:
        return name.strip()
    known = {_class_key(n): n for n in class_names}
    key = _class_key(name)
    canonical = known.get(key) or known.get(CLASS_ALIASES.get(key, ""))
    if canonical is None and key.endswith("s"):
        canonical = known.get(key[:-1])
    if canonical is None:
        if skip_unknown:
            raise _Skip(f"unknown class name {name!r}; known: {list(class_names)}")
        raise ValueError(f"annotation file {json_path}: {item} has class name {name!r}, which is not one of the known "
                         f"classes {list(class_names)}; fix the label or pass skip_unknown=True to skip such "
                         "instances")
    return canonical
