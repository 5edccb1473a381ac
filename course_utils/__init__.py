"""Plumbing for the Transfer Learning & Fine-tuning course: data, models, training, plots.

The course runs from its folder (the one holding data/ and notebooks/); `course_utils.paths` says how it is found.
"""

__version__ = "0.1.0"
