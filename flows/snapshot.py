"""Deployment entrypoint of the snapshot flow (prefect.yaml: flows/snapshot.py:snapshot)."""

from snapprice.pipeline import snapshot

__all__ = ["snapshot"]
