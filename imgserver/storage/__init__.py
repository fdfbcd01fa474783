"""Stores for originals, metadata documents and rendered results."""
