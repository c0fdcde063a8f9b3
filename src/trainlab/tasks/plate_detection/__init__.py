"""Licence-plate detection: an anchor-based detector (torchvision's RetinaNet) on a timm or
text-pretrained encoder, anchors fitted to the training boxes, COCO mAP.

Array-level parts (``data.formats`` readers, ``data.split``, ``anchors``, ``postprocess``,
``metrics``) are plain NumPy/torch functions that can be tested without a model.
"""

from trainlab.engine.task import Task

TASK = Task(
    name="plate_detection",
    summary="licence-plate detection (RetinaNet with fitted anchors on timm / PP-OCRv4 / CRAFT encoders); COCO mAP",
    module="trainlab.tasks.plate_detection.module.PlateDetectionModule",
    datamodule="trainlab.tasks.plate_detection.data.datamodule.PlateDataModule",
    requires=("cv2", "albumentations", "torchmetrics", "pycocotools"),
    extra="plates",
)
