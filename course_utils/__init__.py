"""Plumbing for the Transfer Learning & Fine-tuning course: data, models, training, plots."""
