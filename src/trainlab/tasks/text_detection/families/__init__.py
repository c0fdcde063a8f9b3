"""Built-in detector families (see :mod:`trainlab.tasks.text_detection.family`)."""
