"""Building blocks that several tasks share (the ``timm/layers`` pattern): the timm encoder
wrapper and the feature-pyramid neck. A task imports them from here, never from another
task's folder.
"""
