"""Text detection: DBNet-family and CRAFT detectors, their targets, losses, post-processing
and the ICDAR 2015 evaluation protocol.

Array-level algorithms (``targets``, ``postprocess``, ``metrics``, ``data.icdar_format``)
are plain NumPy/OpenCV functions with no dependency on torch or Lightning, so they
can be tested and benchmarked on real images without a model.
"""

from trainlab.engine.task import Task

TASK = Task(
    name="text_detection",
    summary="text detection (DBNet, DBNet++, CRAFT on timm encoders; PP-OCRv4, CRAFT fine-tuning); ICDAR 2015 H-mean",
    module="trainlab.tasks.text_detection.module.TextDetectionModule",
    datamodule="trainlab.tasks.text_detection.data.datamodule.TextDetectionDataModule",
    requires=("cv2", "pyclipper", "shapely", "albumentations"),
    commands={"score": "score ICDAR result files against ground truth (no model)",
              "data": "convert annotations (COCO, LabelMe, PaddleOCR, docTR <-> ICDAR) and check a data set"},
)
