"""PURE URL handling: Thumbor grammar, filter registry and signing (no I/O, no pyvips)."""
