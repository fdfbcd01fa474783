"""SYNC pyvips code. Runs only in the render pool, never on the event loop."""
