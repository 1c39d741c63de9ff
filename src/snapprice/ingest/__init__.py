"""Ingest: catalogs read into a validated frame, images loaded within safe limits."""

from snapprice.ingest.catalog import read_catalog
from snapprice.ingest.images import load_image

__all__ = ["load_image", "read_catalog"]
