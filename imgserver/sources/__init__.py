"""Async loaders of original images, behind one Protocol."""
