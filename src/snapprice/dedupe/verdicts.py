"""Pair verdicts cached by the unordered pair of content digests and the verifier's parameters.

Verifying a candidate pair (``local.score``: colour, keypoints, the aligned check) costs
0.3–1.2 ms on average, and a catalog of 100 k images has ~4 M candidate pairs: a daily run
over an unchanged catalog would spend an hour of one core deciding again what it decided
yesterday. A verdict depends only on the two pictures' features and the verifier's
parameters, so it is kept under ``verifier_key()`` (feature version, verdict version and
every threshold): a change of any of them reads none of the old verdicts.

``CachedVerifier`` is the ``grouping.PairVerifier`` the stage passes: cached verdicts first;
only for the pairs the cache lacks are local features loaded (from their own cache, or
computed) and the pairs scored, so a run over an unchanged catalog loads no features at all.

Example: the second run over the same pairs scores nothing::

    >>> calls = []
    >>> def scorer(a, b):
    ...     calls.append(len(a))
    ...     return {(x, y): PairScore(40, 0.1, True, 0.9) for x, y in zip(a, b)}
    >>> cache = MemoryVerdictCache()
    >>> for run in range(2):
    ...     v = CachedVerifier(cache.get_many(["d1", "d2"], verifier_key()), scorer)
    ...     ok, inliers = v(["d2"], ["d1"])
    ...     cache.put_many(v.fresh, verifier_key())
    >>> calls, ok.tolist(), inliers.tolist(), v.verified
    ([1], [True], [40.0], 0)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from snapprice.dedupe.local import (
    COLOUR_TOLERANCE,
    FLAT_TOLERANCE,
    LOCAL_VERSION,
    MIN_AGREEMENT,
    MIN_INLIERS,
    RANSAC_PX,
    RATIO,
    PairScore,
)

# Bump when the verdict on the same features changes (``local.score``, ``aligned.agreement``):
# cached verdicts are then decided again. Feature changes bump ``local.LOCAL_VERSION``.
# 2: the aligned check's overlay cells (DEDUPE_VERSION 4) pass watermarks across the outline.
VERDICT_VERSION = 2

Pair = tuple[str, str]  # (smaller digest, larger digest)


@dataclass(frozen=True, slots=True)
class VerifierParams:
    """The thresholds of ``local.score`` (the stage runs the defaults)."""

    min_inliers: int = MIN_INLIERS
    colour_tolerance: float = COLOUR_TOLERANCE
    min_agreement: float = MIN_AGREEMENT

    def key(self) -> str:
        """What a verdict was decided under: the feature and verdict versions and every
        threshold. Any change of it invalidates the cached verdicts.

        >>> VerifierParams().key()
        'local2.2 inliers30 colour0.6 agreement0.6 flat8 ratio0.8 ransac4'
        """
        return (f"local{LOCAL_VERSION}.{VERDICT_VERSION} inliers{self.min_inliers} "
                f"colour{self.colour_tolerance:g} agreement{self.min_agreement:g} "
                f"flat{FLAT_TOLERANCE:g} ratio{RATIO:g} ransac{RANSAC_PX:g}")


DEFAULTS = VerifierParams()  # what the stage runs


def verifier_key() -> str:
    """The key of the stage's verifier (the defaults)."""
    return DEFAULTS.key()


def pair(a: str, b: str) -> Pair:
    return (a, b) if a < b else (b, a)


class VerdictCache(Protocol):
    """Where pair verdicts persist between runs (PostgreSQL ``pair_verdict`` in production)."""

    def get_many(self, digests: Sequence[str], key: str) -> dict[Pair, PairScore]:
        """Every cached verdict under ``key`` whose two digests are both in ``digests``."""
        ...

    def put_many(self, scores: Mapping[Pair, PairScore], key: str) -> None:
        """Keep these verdicts; a pair already kept under ``key`` stays as it is."""
        ...


class MemoryVerdictCache:
    """A VerdictCache in a dict: for tests and the command line without a database."""

    def __init__(self) -> None:
        self.verdicts: dict[tuple[str, str, str], PairScore] = {}

    def get_many(self, digests: Sequence[str], key: str) -> dict[Pair, PairScore]:
        wanted = set(digests)
        return {(a, b): s for (k, a, b), s in self.verdicts.items() if k == key and a in wanted and b in wanted}

    def put_many(self, scores: Mapping[Pair, PairScore], key: str) -> None:
        for (a, b), s in scores.items():
            self.verdicts.setdefault((key, *pair(a, b)), s)


# Digest pairs (equal lengths) → the verdict of each pair that could be scored (a pair with a
# picture that has no features is left out: it is not verified, and not cached).
Scorer = Callable[[Sequence[str], Sequence[str]], Mapping[Pair, PairScore]]


class CachedVerifier:
    """A ``grouping.PairVerifier``: digest pairs → (same, inliers), from ``known`` verdicts
    where they are, from ``scorer`` for the rest (one call per call of the verifier: the bulk
    of candidates at once, then the on-demand pairs one by one).

    ``scores`` holds every verdict used (the HTML page and the report show them), ``fresh``
    the ones scored now (to write back), ``verified`` their count. A ``known`` dict becomes
    ``scores`` itself (a catalog of 100 k images has ~4 M verdicts: no copy).
    """

    def __init__(self, known: Mapping[Pair, PairScore], scorer: Scorer) -> None:
        self.scores: dict[Pair, PairScore] = known if isinstance(known, dict) else dict(known)
        self.fresh: dict[Pair, PairScore] = {}
        self.scorer = scorer

    @property
    def verified(self) -> int:
        return len(self.fresh)

    def __call__(self, a: Sequence[str], b: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        keys = [pair(x, y) for x, y in zip(a, b, strict=True)]
        missing = list(dict.fromkeys(k for k in keys if k not in self.scores))
        if missing:
            got = self.scorer([k[0] for k in missing], [k[1] for k in missing])
            new = {pair(*k): s for k, s in got.items()}
            self.fresh.update(new)
            self.scores.update(new)
        ok, inliers = np.zeros(len(keys), dtype=bool), np.zeros(len(keys))
        for i, k in enumerate(keys):
            s = self.scores.get(k)
            if s is not None:
                ok[i], inliers[i] = s.same, s.inliers
        return ok, inliers
