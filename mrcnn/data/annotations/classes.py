"""Class names as annotators write them, matched to the known classes (case, separators, plurals, aliases).

A name matches a known class when both read the same after lower-casing, turning "_" and "-" into spaces and
collapsing spaces; a trailing plural "s" is tried too ("Neutrophils" -> "neutrophil"). ``aliases`` maps other names
of a class to it (a dataset's own table: PBC's is ``samples.pbc.classes.CLASS_ALIASES``); both sides are compared the
same way.

Shape shorthand: none (strings).
"""

from mrcnn.data.annotations.records import _Skip


def _class_key(name):
    """Lower case, '_' and '-' as spaces, one space between words."""
    return " ".join(name.strip().lower().replace("_", " ").replace("-", " ").split())


def check_aliases(aliases):
    """{_class_key(other name): _class_key(class name)} of an aliases dict (None: {}); TypeError when it is not a
    dict of non-empty strings."""
    if aliases is None:
        return {}
    if not isinstance(aliases, dict) or not all(isinstance(k, str) and k.strip() and isinstance(v, str) and v.strip()
                                                for k, v in aliases.items()):
        raise TypeError(f"aliases must be a dict {{other name: class name}} of non-empty strings, got {aliases!r:.80}")
    return {_class_key(k): _class_key(v) for k, v in aliases.items()}


def _canonical_class(name, class_names, skip_unknown, json_path, item, aliases=None):
    """The class name as spelled in class_names, matched ignoring case, '_' / '-' / spaces, a plural 's' and
    `aliases` (already through check_aliases); ValueError or _Skip when unknown."""
    if not isinstance(name, str) or not name.strip():
        raise _Skip(f"class name must be a non-empty string, got {name!r:.40}")
    if class_names is None:
        return name.strip()
    known = {_class_key(n): n for n in class_names}
    key = _class_key(name)
    canonical = known.get(key) or known.get((aliases or {}).get(key, ""))
    if canonical is None and key.endswith("s"):
        canonical = known.get(key[:-1])
    if canonical is None:
        if skip_unknown:
            raise _Skip(f"unknown class name {name!r}; known: {list(class_names)}")
        raise ValueError(f"annotation file {json_path}: {item} has class name {name!r}, which is not one of the known "
                         f"classes {list(class_names)}; fix the label or pass skip_unknown=True to skip such "
                         "instances")
    return canonical
