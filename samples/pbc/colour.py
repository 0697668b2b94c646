"""PBC's colours, the reference `--colour pbc` moves other labs' images to (mrcnn/data/colour.py).

Measured with `mrcnn.data.colour.lab_statistics` on 400 images of pbc/train drawn at random (numpy seed 0), at their
native size: the mean over the images of each image's mean and standard deviation of L, a, b in OpenCV's 8-bit LAB.
The images themselves vary around it (standard deviation over the images: means 7.9, 1.6, 3.6; standard deviations
6.9, 1.8, 3.1), mostly with the size of the white cell in the crop.

Shape shorthand: none (constants).
"""

PBC_LAB_MEAN = (203.54, 138.72, 135.54)
PBC_LAB_STD = (39.10, 8.92, 13.90)
