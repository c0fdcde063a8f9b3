"""Engine callbacks, usable by every task."""

from trainlab.engine.callbacks.image_size_schedule import ImageSizeSchedule
from trainlab.engine.callbacks.rng_state import RNGStateCallback
from trainlab.engine.callbacks.run_manifest import RunManifest

__all__ = ["ImageSizeSchedule", "RNGStateCallback", "RunManifest"]
