"""Thin Tornado handlers: parse, call pure code and the pool, write the answer."""
