"""PURE planning: ParsedUrl + source facts → frozen Plan."""
