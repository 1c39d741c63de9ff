"""Dedupe: a catalog's images hashed (cached by content) and grouped, precision first."""

from snapprice.dedupe.stage import DedupeResult, ImageLimits, dedupe_catalog

__all__ = ["DedupeResult", "ImageLimits", "dedupe_catalog"]
