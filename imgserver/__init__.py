"""imgserver: a Thumbor-compatible image URL server on libvips and Tornado."""

__version__ = "0.1.0"
