"""Prefect flows of snapprice: thin recipes over the stages in src/snapprice."""
