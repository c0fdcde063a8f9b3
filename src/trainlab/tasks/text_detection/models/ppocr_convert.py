"""The PP-OCRv4 conversion now lives in :mod:`trainlab.layers.pretrained_ppocr` (shared with plate
detection); its names stay importable from here for existing code."""

from trainlab.layers.pretrained_ppocr import (  # noqa: F401
    INSTALL_HINT,
    ONNX_FILE,
    ONNX_PACKAGE,
    PPOCRUnavailableError,
    constants_to_initializers,
    convert_ppocr_det,
    converted_ppocr_det,
    expose_neck_features,
    fuse_elementwise,
    importlib,
    ppocr_det_onnx_path,
)
