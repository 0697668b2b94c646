"""PBC's eight cell classes: the one list every part of the sample reads.

Class id = index in CLASS_NAMES + 1 (0 is the background), the same for the synthetic smears, the PBC folders, the
annotation files, the detector's outputs and the web page. SOURCE is the `mrcnn.utils.Dataset` source the classes
are registered under, so class ids agree between a model trained on synthetic smears and one trained on real PBC.
CLASS_ALIASES are other names of the classes that annotation files may use (`mrcnn.data.annotations` matches case,
separators and plurals by itself).
"""

# PBC's folder names in alphabetical order.
CLASS_NAMES = ["basophil", "eosinophil", "erythroblast", "ig", "lymphocyte", "monocyte", "neutrophil", "platelet"]
SOURCE = "pbc"
# The classes a white-cell differential count is made of (its 100 %): erythroblasts and platelets are counted apart.
WHITE_CELL_CLASSES = [name for name in CLASS_NAMES if name not in ("erythroblast", "platelet")]
# Other names found in labelling tools and papers: the paper itself calls the immature granulocytes "Mmy", and
# platelets are also thrombocytes.
CLASS_ALIASES = {
    "mmy": "ig", "immature granulocyte": "ig", "immature granulocytes": "ig", "thrombocyte": "platelet",
    "thrombocytes": "platelet", "plt": "platelet",
}
