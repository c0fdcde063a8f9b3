"""Engine callbacks, usable by every task."""

from trainlab.engine.callbacks.dropout_schedule import AdaptiveDropout, LateDropout
from trainlab.engine.callbacks.ema import EMA
from trainlab.engine.callbacks.image_size_schedule import ImageSizeSchedule
from trainlab.engine.callbacks.non_finite_guard import NonFiniteGuard, NonFiniteLossError
from trainlab.engine.callbacks.rng_state import RNGStateCallback
from trainlab.engine.callbacks.run_manifest import RunManifest

__all__ = ["EMA", "AdaptiveDropout", "ImageSizeSchedule", "LateDropout", "NonFiniteGuard", "NonFiniteLossError",
           "RNGStateCallback", "RunManifest"]
