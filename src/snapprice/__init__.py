"""snapprice: cross-platform price monitoring by image."""

__version__ = "0.1.0"
