"""Text detection: DBNet-family detectors, their targets, losses, post-processing
and the ICDAR 2015 evaluation protocol.

Array-level algorithms (``targets``, ``postprocess``, ``metrics``, ``data.icdar_format``)
are plain NumPy/OpenCV functions with no dependency on torch or Lightning, so they
can be tested and benchmarked on real images without a model.
"""
