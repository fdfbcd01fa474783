"""Stores: originals and metadata documents (objects.py), rendered results (base/fs/s3)."""
