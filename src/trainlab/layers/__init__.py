"""Building blocks that several tasks share (the ``timm/layers`` pattern): the timm encoder
wrapper (``encoder``), the feature-pyramid neck (``fpn``), PaddleOCR's PP-OCRv4 detector and its
text-pretrained backbone (``pretrained_ppocr``), and CRAFT's VGG16-BN with the official CRAFT
weights' location (``vgg16_bn``). A task imports them from here, never from another task's folder.
"""
