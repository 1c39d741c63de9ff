"""Visual search over listing pictures: features stacked per platform, ranked by similarity."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from snapprice.sandbox.features import Features, similarity


def stack(feats: Sequence[Features]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The three arrays ``similarity`` compares a query against."""
    return (
        np.stack([f.dct for f in feats]) if feats else np.zeros((0, 63), np.float32),
        np.stack([f.hist for f in feats]) if feats else np.zeros((0, 64), np.float32),
        np.stack([f.layout for f in feats]) if feats else np.zeros((0, 192), np.float32),
    )


class VisualIndex:
    """Listing features grouped by platform; a search returns listing positions, best first."""

    def __init__(self, feats: Sequence[Features], *, platforms: Sequence[str], cats: Sequence[str]) -> None:
        self._parts: dict[str, tuple[np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray], np.ndarray]] = {}
        for platform in sorted(set(platforms)):
            rows = np.array([i for i, p in enumerate(platforms) if p == platform], dtype=np.int64)
            self._parts[platform] = (
                rows,
                stack([feats[i] for i in rows]),
                np.array([cats[i] for i in rows]),
            )

    def search(self, q: Features, platform: str, *, min_score: float, cat: str = ""
               ) -> tuple[np.ndarray, np.ndarray]:
        """(listing positions, scores) above ``min_score`` on ``platform``, best first."""
        part = self._parts.get(platform)
        if part is None:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        rows, arrays, cats = part
        scores = similarity(q, *arrays)
        keep = scores >= min_score
        if cat:
            keep &= cats == cat
        idx = np.flatnonzero(keep)
        order = idx[np.argsort(-scores[idx], kind="stable")]
        return rows[order], scores[order]
