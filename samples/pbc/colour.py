"""PBC's colours, the references `--colour pbc` and `--colour background` move other labs' images to
(mrcnn/data/colour.py).

Measured with `mrcnn.data.colour.lab_statistics` on 400 images of pbc/train drawn at random (numpy seed 0), at their
native size: the mean over the images of each image's mean and standard deviation of L, a, b in OpenCV's 8-bit LAB.
The images themselves vary around it (standard deviation over the images: means 7.9, 1.6, 3.6; standard deviations
6.9, 1.8, 3.1), mostly with the size of the white cell in the crop.

PBC_BACKGROUND: `mrcnn.data.colour.background_colour` (RGB) of the same 400 images, their mean (standard deviation
over the images 3.8, 2.0, 4.2; the red channel of most is at 255).

Shape shorthand: none (constants).
"""

PBC_LAB_MEAN = (203.54, 138.72, 135.54)
PBC_LAB_STD = (39.10, 8.92, 13.90)
PBC_BACKGROUND = (253.9, 228.3, 202.8)
