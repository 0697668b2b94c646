"""The published figures of Atıcı & Koçer 2023 (Gazi J. Eng. Sci. 9(1):128-143), typed from the paper's text.

Source: shared/seeds/002_f8bca989332d6a85.txt, Tables 3, 4, 5 and 6. The values are copied as printed (no rounding,
no correction); where the paper contradicts itself the table wins and the comment says so. The report writer puts
these beside our own figures; nothing here is computed.

Shape shorthand: none (plain Python constants; no arrays).

How the paper's columns map onto our metric names (the README's evaluation section says the same):
- Table 3 "Total / Validation / Frame / Classification / Masking loss" = our `loss`, `val_loss`, `mrcnn_bbox_loss`,
  `mrcnn_class_loss`, `mrcnn_mask_loss` of the last epoch (the paper's "frame" loss is the box loss).
- Table 4 mAP(0.5), mAP(0.7), mAP(0.9), mAP(0.5-0.95), mAR, F1: the paper states eq. 5 (11-point interpolated AP)
  and eq. 6 (mean over classes); its F1 is the harmonic mean of mAP(0.5) and mAR
  (ResNet101: 2 * 0.9139 * 0.953 / (0.9139 + 0.953) = 0.9330).
- Table 5 Accuracy fits the macro average of one-vs-rest accuracies, not top-1 accuracy
  (ResNet101: 1 - 2 * (1 - 0.9737) / 8 = 0.9934 against 0.9931 printed).
"""

from mrcnn.backbones.registry import PAPER_BACKBONES

BACKBONES = PAPER_BACKBONES  # the paper's seven, as the registry names them, in its tables' order

# Display names as the paper prints them.
BACKBONE_LABELS = {
    "resnet50": "ResNet50", "resnet101": "ResNet101", "resnet152": "ResNet152", "resnext50": "ResNeXt50",
    "vgg19": "VGG19", "densenet169": "DenseNet169", "densenet121": "DenseNet121",
}

# Table 3 ("Loss rates"): last-epoch losses. Keys: total, validation, box ("Frame Loss"), class, mask.
TABLE3_LOSSES = {
    "resnet50": {"total": 0.09887, "validation": 0.1062, "box": 0.01586, "class": 0.01282, "mask": 0.05166},
    "resnet101": {"total": 0.08486, "validation": 0.07841, "box": 0.01382, "class": 0.01157, "mask": 0.04641},
    "resnet152": {"total": 0.1480, "validation": 0.2893, "box": 0.0273, "class": 0.0365, "mask": 0.0491},
    "resnext50": {"total": 0.2387, "validation": 0.1041, "box": 0.0499, "class": 0.04812, "mask": 0.08295},
    "vgg19": {"total": 0.2493, "validation": 0.2989, "box": 0.02605, "class": 0.1076, "mask": 0.06895},
    "densenet169": {"total": 0.3681, "validation": 0.1986, "box": 0.08537, "class": 0.04326, "mask": 0.1055},
    "densenet121": {"total": 0.4103, "validation": 0.1994, "box": 0.0667, "class": 0.0167, "mask": 0.1356},
}

# Table 4 ("Consequences of backbone architectures"), on the validation set. Keys: mAP at "0.5", "0.7", "0.9",
# "0.5:0.95"; mAR; F1 (printed under "F1-Score (%)" but as a fraction).
# Note: for ResNet152 the printed mAP(0.5-0.95) 0.6848 exceeds its mAP(0.9) 0.6707; typed as printed.
TABLE4_DETECTION = {
    "resnet50": {"mAP": {"0.5": 0.8902, "0.7": 0.8877, "0.9": 0.8443, "0.5:0.95": 0.8340}, "mAR": 0.932,
                 "F1": 0.9105},
    "resnet101": {"mAP": {"0.5": 0.9139, "0.7": 0.9089, "0.9": 0.8645, "0.5:0.95": 0.8505}, "mAR": 0.953,
                  "F1": 0.9329},
    "resnet152": {"mAP": {"0.5": 0.7572, "0.7": 0.7535, "0.9": 0.6707, "0.5:0.95": 0.6848}, "mAR": 0.871,
                  "F1": 0.8102},
    "resnext50": {"mAP": {"0.5": 0.6151, "0.7": 0.6107, "0.9": 0.4824, "0.5:0.95": 0.5429}, "mAR": 0.784,
                  "F1": 0.6894},
    "vgg19": {"mAP": {"0.5": 0.2481, "0.7": 0.2393, "0.9": 0.1518, "0.5:0.95": 0.2060}, "mAR": 0.313,
              "F1": 0.2768},
    "densenet169": {"mAP": {"0.5": 0.4784, "0.7": 0.4596, "0.9": 0.3236, "0.5:0.95": 0.4057}, "mAR": 0.624,
                    "F1": 0.5416},
    "densenet121": {"mAP": {"0.5": 0.7688, "0.7": 0.7563, "0.9": 0.5741, "0.5:0.95": 0.6802}, "mAR": 0.907,
                    "F1": 0.8323},
}

# Table 5 ("Classification performance metrics"), 800 test images (100 per class). "Presicion" [sic] in the paper.
# The running text swaps the two DenseNets (it says 0.9638 for DenseNet121 and 0.9291 for DenseNet169); the table
# rows are typed here as printed. VGG19's specificity 0.5687 equals the Table 6 value of [31]; typed as printed.
TABLE5_CLASSIFICATION = {
    "resnet50": {"accuracy": 0.9898, "precision": 0.9575, "recall": 0.9600, "f1": 0.9575, "specificity": 0.9942},
    "resnet101": {"accuracy": 0.9931, "precision": 0.9725, "recall": 0.9737, "f1": 0.9687, "specificity": 0.9961},
    "resnet152": {"accuracy": 0.9688, "precision": 0.8250, "recall": 0.8937, "f1": 0.8275, "specificity": 0.9823},
    "resnext50": {"accuracy": 0.9590, "precision": 0.7500, "recall": 0.7425, "f1": 0.6562, "specificity": 0.9778},
    "vgg19": {"accuracy": 0.9580, "precision": 0.4600, "recall": 0.4037, "f1": 0.4300, "specificity": 0.5687},
    "densenet169": {"accuracy": 0.9638, "precision": 0.8500, "recall": 0.8637, "f1": 0.8475, "specificity": 0.9707},
    "densenet121": {"accuracy": 0.9291, "precision": 0.6155, "recall": 0.7537, "f1": 0.5968, "specificity": 0.9265},
}

# Table 6 ("Overall performances of the whole scenario"): the paper's ResNet101 against other PBC studies
# (reference numbers of the paper). No F1 column.
TABLE6_OVERALL = {
    "Proposed Study": {"accuracy": 0.9931, "precision": 0.9725, "recall": 0.9737, "specificity": 0.9961},
    "[9] Ucar 2020": {"accuracy": 0.9794, "precision": 0.9794, "recall": 0.9794, "specificity": 0.9971},
    "[29] Acevedo et al. 2019": {"accuracy": 0.9620, "precision": 0.9700, "recall": 0.9600, "specificity": 0.9680},
    "[30] Banik et al. 2019": {"accuracy": 0.9519, "precision": 0.9232, "recall": 0.9039, "specificity": 0.9525},
    "[31] Di Ruberto et al. 2020": {"accuracy": 0.9560, "precision": 0.9840, "recall": 0.9500,
                                    "specificity": 0.5687},
}

# Table 1: the PBC classes (the 8 of the paper, in the order of our sample's folders).
PBC_CLASSES = ("basophil", "eosinophil", "erythroblast", "ig", "lymphocyte", "monocyte", "neutrophil", "platelet")


def paper_values(backbone):
    """{"backbone", "label", "losses", "detection", "classification"} of one backbone of the paper.

    backbone: a key of BACKBONES, case-insensitive ("ResNet101" works).
    Raises ValueError for a backbone the paper does not report.
    """
    key = str(backbone).lower().replace("-", "").replace("_", "")
    if key not in BACKBONES:
        raise ValueError(f"backbone={backbone!r}: the paper reports {', '.join(BACKBONES)}")
    return {"backbone": key, "label": BACKBONE_LABELS[key], "losses": dict(TABLE3_LOSSES[key]),
            "detection": {"mAP": dict(TABLE4_DETECTION[key]["mAP"]), "mAR": TABLE4_DETECTION[key]["mAR"],
                          "F1": TABLE4_DETECTION[key]["F1"]},
            "classification": dict(TABLE5_CLASSIFICATION[key])}


# The paper's best backbone, the default beside which reports print our figures.
PAPER_RESNET101 = paper_values("resnet101")
PAPER = {name: paper_values(name) for name in BACKBONES}
