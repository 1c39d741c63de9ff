"""Deployment entrypoint of the backfill flow (prefect.yaml: flows/backfill.py:backfill)."""

from snapprice.pipeline import backfill

__all__ = ["backfill"]
