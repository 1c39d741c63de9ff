"""Near-duplicate groups over perceptual hashes: one representative image per group.

Rows with the same content digest are one image (exact duplicates never reach the index).
Candidate pairs: pHashes within ``threshold`` bits (``hamming.near_pairs``) and,
with a ``dup`` descriptor column, untrimmed hashes and full hashes within ``window_radius``
of another image's crop-window hashes. Both searches cap the bits probed per band
(``band_bits``): complete up to 8 (pHash) and 5 (windows) bits, most pairs beyond. Every
candidate is verified: by a ``verifier`` when given (``local``: keypoints and object colour,
what ``stage`` passes), else on the 8×8 colour thumbnails (``features.pair_scores``), else by
the 2×2 ``colour`` check: recolourings of a product are different products with the same
luminance hash.

Groups never chain (``_anchored``): every member is verified directly against its group's
representative, so A~B and B~C with A≁C is not one group; a member verified against two
groups' representatives stays alone. The representative is the larger image of the pair
that founded the group; ``group_id`` counts groups in order of their first row.

Example: ``a`` and ``b`` differ in one bit (``a`` is larger: it represents the group), ``c``
is far from both::

    >>> frame = pl.DataFrame({"sku": ["a", "b", "c"], "digest": ["d1", "d2", "d3"],
    ...                       "phash": [0, 1, 2**40 - 1], "width": [800, 400, 800],
    ...                       "height": [800, 400, 800]})
    >>> group(frame, threshold=8).select("sku", "group_id", "is_representative", "distance").rows()
    [('a', 0, True, 0), ('b', 0, False, 1), ('c', 1, True, 0)]
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, NamedTuple

import numpy as np
import polars as pl

from snapprice.dedupe.colour import COLOUR_TOLERANCE, colours_agree
from snapprice.dedupe.features import CHROMA_TOLERANCE, NCC_MIN, Features, pair_scores, unpack
from snapprice.dedupe.hamming import near_pairs, near_pairs_between, popcount64

DEFAULT_THRESHOLD = 14  # docs/dedupe.md: candidates within 14 bits (banded), verified on thumbnails
BAND_BITS = 2  # pHash search probes ≤ 2 bits per band: complete to 8 bits, most pairs at 10–12
WINDOW_RADIUS = 8  # a full hash against another image's crop-window hashes
WINDOW_BAND_BITS = 1  # window search probes ≤ 1 bit per band: complete to 5 bits, most at 6–8
# Stored with a run's groups. 1 (NULL in the database): connected components, which chained;
# 2: no chaining, every member verified against its representative (local features in stage);
# 3: the verifier also runs the aligned check (label variants apart, ``local.LOCAL_VERSION`` 2);
# 4: the aligned check also passes cells where one picture is the other under a semi-transparent
# overlay (watermarks across the outline): it verifies every pair 3 did, and more; same features.
DEDUPE_VERSION = 4
GROUP_COLUMNS = ("group_id", "is_representative", "distance")


@dataclass(frozen=True, slots=True)
class DedupeStats:
    """What one dedupe saved: every group is searched once instead of every image."""

    images: int  # catalog rows that reached grouping
    unique_images: int  # distinct content digests
    rejects: int
    groups: int
    searches_saved: int  # per platform: images - groups

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def _as_frame(records: pl.DataFrame | Sequence[Mapping[str, Any]] | Sequence[Any]) -> pl.DataFrame:
    if isinstance(records, pl.DataFrame):
        return records
    rows = [r if isinstance(r, Mapping) else asdict(r) for r in records]
    return pl.DataFrame(rows, infer_schema_length=None)


def _uint64(series: pl.Series) -> np.ndarray:
    """pHash column (unsigned, or signed BIGINT from the database) as uint64."""
    if series.dtype == pl.UInt64:
        return series.to_numpy().astype(np.uint64, copy=False)
    if series.dtype.is_integer() and series.dtype not in (pl.Int128, pl.UInt128):
        return series.cast(pl.Int64).to_numpy().view(np.uint64)
    # Python ints above 2**63 arrive as Int128 or objects: mask them to 64 bits.
    return np.array([int(v) & (2**64 - 1) for v in series], dtype=np.uint64)


def _leaders(phash: np.ndarray, colour: np.ndarray | None, tolerance: float) -> np.ndarray:
    """For each node, the node it merges with before any search: same pHash, same colour.

    Collapsing equal hashes first keeps the index free of big buckets of identical values.
    """
    n = phash.size
    order = np.lexsort((np.arange(n), phash))
    sorted_h = phash[order]
    starts = np.flatnonzero(np.r_[True, sorted_h[1:] != sorted_h[:-1]])
    leader = np.empty(n, dtype=np.int64)
    sizes = np.diff(np.r_[starts, n])
    leader[order] = np.repeat(order[starts], sizes)
    if colour is None:
        return leader
    for s, size in zip(starts[sizes > 1], sizes[sizes > 1], strict=True):
        run = order[s:s + size]
        heads: list[int] = []
        for node in run.tolist():
            agree = (colours_agree(colour[heads], np.full(len(heads), colour[node]), tolerance)
                     if heads else [])
            hit = next((h for h, ok in zip(heads, agree, strict=True) if ok), None)
            if hit is None:
                heads.append(node)
                hit = node
            leader[node] = hit
    return leader


def _candidates(phash: np.ndarray, feats: Features, heads: np.ndarray, threshold: int,
                window_radius: int, threads: int,
                window_band_bits: int | None = WINDOW_BAND_BITS,
                band_bits: int | None = BAND_BITS) -> tuple[np.ndarray, np.ndarray]:
    """Node pairs (a < b) worth verifying: pHashes (plus untrimmed hashes where a pad was
    cut) within ``threshold``, and full hashes within ``window_radius`` of a crop window.
    """
    ok = heads[feats.ok[heads]]
    retrimmed = ok[feats.untrimmed[ok] != feats.full[ok]]
    keys = np.concatenate([phash[heads], feats.untrimmed[retrimmed]])
    owner = np.concatenate([heads, retrimmed])
    pi, pj = near_pairs(keys, threshold, threads=threads, band_bits=band_bits)
    qi, ti = near_pairs_between(feats.full[ok], feats.windows[ok].ravel(), window_radius,
                                band_bits=window_band_bits)
    a = np.concatenate([owner[pi], ok[qi]])
    b = np.concatenate([owner[pj], ok[ti // feats.windows.shape[1]]])
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    n = phash.size
    key = np.unique(lo[lo != hi] * n + hi[lo != hi])
    return key // n, key % n


class _Nodes(NamedTuple):
    """The distinct digests of a frame, one node each; node ids follow digest order, so a
    smaller id is a smaller digest."""

    of_row: np.ndarray  # each row's node
    first_row: np.ndarray  # each node's first row
    phash: np.ndarray  # per node, uint64
    area: np.ndarray  # per node, width × height (0 when unknown)
    colour: np.ndarray | None  # per node, the colour signal (-1: none); None: no colour check


def _nodes(frame: pl.DataFrame, colour_check: bool) -> _Nodes:
    """A non-empty frame's nodes; their colour signals if asked and the frame has any."""
    node_of_row = (frame["digest"].rank("dense") - 1).cast(pl.Int64).to_numpy()
    _, first_row = np.unique(node_of_row, return_index=True)
    phash = _uint64(frame["phash"])[first_row]
    area = (frame["width"].cast(pl.Int64) * frame["height"].cast(pl.Int64)).fill_null(0)
    area = area.to_numpy()[first_row]
    colour = None
    if colour_check and "colour" in frame.columns and frame["colour"].null_count() < frame.height:
        colour = frame["colour"].cast(pl.Int64).fill_null(-1).to_numpy()[first_row]
    return _Nodes(node_of_row, first_row, phash, area, colour)


# Digest pairs → (verified, score: higher is surer): a verifier from outside (``local``).
PairVerifier = Callable[[Sequence[str], Sequence[str]], tuple[np.ndarray, np.ndarray]]


class _Checks:
    """Pair verification over nodes, with a score per pair (higher: surer), memoised for the
    on-demand checks of a node against a group's representative.

    By the ``verifier`` when given (digest pairs), else on the thumbnails where both nodes
    have a descriptor, else on the colour signal with the pHash within ``threshold``.
    """

    def __init__(self, nodes: _Nodes, digests: np.ndarray, feats: Features | None, threshold: int,
                 verifier: PairVerifier | None, colour_tolerance: float, chroma_tolerance: float,
                 ncc_min: float, thumbnails: bool = False) -> None:
        self.nodes, self.digests, self.feats, self.threshold = nodes, digests, feats, threshold
        self.verifier, self.thumbnails = verifier, thumbnails
        self.colour_tolerance, self.chroma_tolerance, self.ncc_min = colour_tolerance, chroma_tolerance, ncc_min
        self.memo: dict[tuple[int, int], bool] = {}

    def many(self, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(verified, score) of node pairs."""
        ok, score = np.ones(a.size, dtype=bool), np.zeros(a.size)
        if a.size == 0:
            return ok, score
        feats, colour = self.feats, self.nodes.colour
        # A verifier alone decides: the thumbnails are scored only to gate it (``thumbnails``)
        # or when there is none (a rerun from the verdict cache spent half its time on them).
        use_thumbs = feats is not None and (self.verifier is None or self.thumbnails)
        both = feats.ok[a] & feats.ok[b] if use_thumbs else np.zeros(a.size, dtype=bool)
        if both.any():
            assert feats is not None
            ncc, chroma = pair_scores(feats.thumb, a[both], b[both])
            ok[both] = (ncc >= self.ncc_min) & (chroma <= self.chroma_tolerance)
            score[both] = ncc
        if self.verifier is not None:
            run = ok if self.thumbnails else np.ones(a.size, dtype=bool)
            ok = np.zeros(a.size, dtype=bool)
            v_ok, v_score = self.verifier(self.digests[a[run]].tolist(), self.digests[b[run]].tolist())
            ok[run] = np.asarray(v_ok, dtype=bool)
            score[run] = np.asarray(v_score, dtype=np.float64)
            return ok, score
        rest = ~both
        if rest.any():
            dist = popcount64(self.nodes.phash[a[rest]] ^ self.nodes.phash[b[rest]])
            near = dist <= self.threshold
            if colour is not None:
                near &= colours_agree(colour[a[rest]], colour[b[rest]], self.colour_tolerance)
            ok[rest] = near
            score[rest] = -dist.astype(np.float64)
        return ok, score

    def one(self, x: int, y: int) -> bool:
        key = (min(x, y), max(x, y))
        if key not in self.memo:
            self.memo[key] = bool(self.many(np.array([key[0]]), np.array([key[1]]))[0][0])
        return self.memo[key]


def _anchored(n: int, a: np.ndarray, b: np.ndarray, score: np.ndarray, area: np.ndarray,
              check: Callable[[int, int], bool]) -> np.ndarray:
    """Groups without chaining: each node's representative (itself when alone).

    Verified pairs are taken by score, best first. Two lone nodes found a group, the larger
    (then smaller id) its representative; a lone node joins a group only if it verifies
    against the group's representative (``check``); two groups merge only if every member of
    the one whose representative is smaller verifies against the other's. Afterwards a
    member verified against another group's representative too is ambiguous: it stays alone.
    So every member of a group is verified against its representative: A~B, B~C, A≁C never
    makes A, B, C one group.
    """
    rep = np.arange(n)
    members: dict[int, list[int]] = {}
    for k in np.lexsort((b, a, -score)).tolist():
        i, j = int(a[k]), int(b[k])
        ri, rj = int(rep[i]), int(rep[j])
        if ri == rj and ri in members:
            continue
        if ri not in members and rj not in members:  # two lone nodes
            r = i if (area[i], -i) >= (area[j], -j) else j
            rep[i] = rep[j] = r
            members[r] = [i, j]
        elif rj not in members or ri not in members:  # a lone node and a group
            node, r = (j, ri) if rj not in members else (i, rj)
            if node == r or check(node, r):
                rep[node] = r
                members[r].append(node)
        else:  # two groups
            keep, drop = (ri, rj) if (area[ri], -ri) >= (area[rj], -rj) else (rj, ri)
            if all(check(m, keep) for m in members[drop]):
                rep[members[drop]] = keep
                members[keep] += members.pop(drop)
    for k in range(a.size):  # ambiguous members: verified against another group's representative
        for x, y in ((int(a[k]), int(b[k])), (int(b[k]), int(a[k]))):
            if rep[x] != x and rep[y] == y and y in members and rep[x] != y and check(x, y):
                members[int(rep[x])].remove(x)
                rep[x] = x
    for r, group in members.items():  # a group left with its representative alone
        if len(group) == 1:
            rep[r] = r
    return rep


def _group_ids(comp_of_row: np.ndarray) -> np.ndarray:
    """Group ids in order of each group's first row: stable for the same catalog."""
    _, first_row_of_comp = np.unique(comp_of_row, return_index=True)
    gid_of_comp = np.empty_like(first_row_of_comp)
    gid_of_comp[np.argsort(first_row_of_comp, kind="stable")] = np.arange(first_row_of_comp.size)
    return gid_of_comp[np.unique(comp_of_row, return_inverse=True)[1]]


def _representative_rows(node_of_row: np.ndarray, rep_of_row: np.ndarray, comp_of_row: np.ndarray) -> np.ndarray:
    """Whether each row represents its group: only the first row with the representative digest."""
    rep_rows = np.flatnonzero(node_of_row == rep_of_row)
    _, first_rep = np.unique(comp_of_row[rep_rows], return_index=True)
    is_rep = np.zeros(node_of_row.size, dtype=bool)
    is_rep[rep_rows[first_rep]] = True
    return is_rep


def group(
    records: pl.DataFrame | Sequence[Mapping[str, Any]] | Sequence[Any],
    threshold: int = DEFAULT_THRESHOLD,
    *,
    colour_check: bool = True,
    colour_tolerance: float = COLOUR_TOLERANCE,
    threads: int = 1,
    verify: bool = True,
    window_radius: int = WINDOW_RADIUS,
    window_band_bits: int | None = WINDOW_BAND_BITS,
    band_bits: int | None = BAND_BITS,
    chroma_tolerance: float = CHROMA_TOLERANCE,
    ncc_min: float = NCC_MIN,
    verifier: PairVerifier | None = None,
    thumbnails: bool = False,
) -> pl.DataFrame:
    """Add ``group_id`` (0..n-1), ``is_representative`` and ``distance`` to hashed records.

    ``records`` needs ``digest``, ``phash``, ``width``, ``height`` (``sku`` and any other
    columns pass through). With a ``dup`` column (``features.describe_many`` bytes) candidates
    also come from untrimmed and crop-window hashes and every candidate pair is verified by
    ``verifier`` (digest pairs → verified, score; with ``thumbnails=True`` only pairs whose
    thumbnails agree too: measured no better on the hard set, and it loses framed copies)
    or else on thumbnails (``verify=False``:
    pHash pairs and the colour check only); rows without one fall back to ``colour`` when
    present. No chaining: every member is verified against its representative
    (``_anchored``). Exactly one row per group is the representative: the first row carrying
    the group's representative digest.
    """
    frame = _as_frame(records)
    if frame.height == 0:
        return frame.with_columns(
            pl.lit(None, pl.Int64).alias("group_id"), pl.lit(None, pl.Boolean).alias(
                "is_representative"), pl.lit(None, pl.Int64).alias("distance"))
    nodes = _nodes(frame, colour_check)
    digests = frame["digest"].to_numpy()[nodes.first_row]
    feats = None
    if verify and "dup" in frame.columns and frame["dup"].null_count() < frame.height:
        dups = frame["dup"].to_list()
        feats = unpack([dups[i] for i in nodes.first_row])
    # Equal pHashes (and colours) are collapsed first when nothing verifies them further: a
    # bucket of identical hashes would blow up the pair search.
    leader = (np.arange(nodes.phash.size) if verifier is not None or feats is not None
              else _leaders(nodes.phash, nodes.colour, colour_tolerance))
    heads = np.flatnonzero(leader == np.arange(leader.size))
    if feats is not None:
        a, b = _candidates(nodes.phash, feats, heads, threshold, window_radius, threads,
                           window_band_bits, band_bits)
    else:
        pi, pj = near_pairs(nodes.phash[heads], threshold, threads=threads, band_bits=band_bits)
        a, b = heads[pi], heads[pj]
    checks = _Checks(nodes, digests, feats, threshold, verifier if verify else None, colour_tolerance,
                     chroma_tolerance, ncc_min, thumbnails)
    ok, score = checks.many(a, b)
    checks.memo.update(((int(x), int(y)), bool(v)) for x, y, v in zip(a, b, ok, strict=True))
    rep = _anchored(nodes.phash.size, a[ok], b[ok], score[ok], nodes.area, checks.one)
    rep = rep[leader]  # a collapsed node goes where its leader went
    rep_of_row = rep[nodes.of_row]
    distance = popcount64(nodes.phash[nodes.of_row] ^ nodes.phash[rep_of_row]).astype(np.int64)
    return frame.with_columns(
        pl.Series("group_id", _group_ids(rep_of_row), dtype=pl.Int64),
        pl.Series("is_representative", _representative_rows(nodes.of_row, rep_of_row, rep_of_row),
                  dtype=pl.Boolean),
        pl.Series("distance", distance, dtype=pl.Int64),
    )


def candidate_digests(records: pl.DataFrame, threshold: int = DEFAULT_THRESHOLD, *, threads: int = 1,
                      window_radius: int = WINDOW_RADIUS) -> set[str]:
    """Digests of the images that have a hash candidate: the only ones a ``verifier`` sees, so
    the only ones whose local features are needed."""
    frame = _as_frame(records)
    if frame.height == 0 or "dup" not in frame.columns or frame["dup"].null_count() == frame.height:
        return set()
    nodes = _nodes(frame, colour_check=False)
    dups = frame["dup"].to_list()
    feats = unpack([dups[i] for i in nodes.first_row])
    a, b = _candidates(nodes.phash, feats, np.arange(nodes.phash.size), threshold, window_radius, threads)
    digests = frame["digest"].to_numpy()[nodes.first_row]
    return set(digests[np.unique(np.concatenate([a, b]))].tolist())


def dedupe_stats(grouped: pl.DataFrame, rejects: int | Sequence[Any] = 0) -> DedupeStats:
    """Counts for a frame returned by ``group`` plus the rejects of earlier stages."""
    n_rejects = rejects if isinstance(rejects, int) else len(rejects)
    if grouped.height == 0:
        return DedupeStats(0, 0, n_rejects, 0, 0)
    groups = grouped["group_id"].n_unique()
    return DedupeStats(
        images=grouped.height,
        unique_images=grouped["digest"].n_unique(),
        rejects=n_rejects,
        groups=groups,
        searches_saved=grouped.height - groups,
    )
