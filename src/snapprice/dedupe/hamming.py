"""All pairs of 64-bit hashes within a Hamming radius: multi-index hashing in numpy.

Pigeonhole: cut the 64 bits into m bands; two hashes at distance ≤ r differ in at most
⌊r/m⌋ bits of some band. For each band a dense table (counting sort over 2^b buckets)
answers "which hashes have band value v" in O(1); each hash probes every value within
⌊r/m⌋ bits of its own band, and the candidates are checked on all 64 bits. m is chosen per
call from a cost model (probes versus expected candidates), so the search stays exact for
any r and fast for the usual r ≤ 10; ``band_bits`` trades exactness for speed (fewer bits
probed per band). ``brute_force_pairs`` is the tiled O(n²) reference.

Example: 0 and 1 differ in one bit, 0 and 2**63 in one, 1 and 2**63 in two::

    >>> import numpy as np
    >>> hashes = np.array([0, 1, 2**63], dtype=np.uint64)
    >>> near_pairs(hashes, radius=1)  # (first indices, second indices) of the pairs
    (array([0, 0]), array([1, 2]))
    >>> near_pairs(hashes, radius=2)
    (array([0, 0, 1]), array([1, 2, 2]))
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from itertools import combinations
from math import comb

import numpy as np

MAX_TABLE_BITS = 22  # 4 M buckets × 4 bytes per table: fits in cache-friendly memory
_CHUNK = 1 << 22  # probe elements per numpy pass: big enough to amortise call overhead


def popcount64(x: np.ndarray) -> np.ndarray:
    """Set bits per uint64 element."""
    return np.bitwise_count(x)


def _bands(m: int) -> list[tuple[int, int]]:
    """(shift, width) of m bands covering 64 bits, widths differing by at most one."""
    base, extra = divmod(64, m)
    out, shift = [], 0
    for i in range(m):
        width = base + (1 if i < extra else 0)
        out.append((shift, width))
        shift += width
    return out


def _probe_bits(radius: int, m: int, band_bits: int | None) -> int:
    """Differing bits probed per band: ⌊radius/m⌋ (exact), capped by ``band_bits``."""
    return radius // m if band_bits is None else min(band_bits, radius // m)


def _plan(n: int, radius: int, band_bits: int | None = None) -> int:
    """The band count with the least estimated work for n hashes at this radius (probing at
    most ``band_bits`` differing bits per band when given)."""
    best_m, best_cost = 0, float("inf")
    for m in range(2, 33):
        width = 64 // m
        if -(-64 // m) > MAX_TABLE_BITS:
            continue
        k = _probe_bits(radius, m, band_bits)
        probes = m * sum(comb(width, i) for i in range(k + 1))
        candidates = n * probes * n / 2.0**width
        cost = n * probes + 4 * candidates  # a candidate costs a few passes more than a probe
        if cost < best_cost:
            best_m, best_cost = m, cost
    return best_m


def _masks(width: int, k: int) -> np.ndarray:
    masks = [0]
    for j in range(1, k + 1):
        masks += [sum(1 << b for b in bits) for bits in combinations(range(width), j)]
    return np.array(masks, dtype=np.uint32)


def _table(vals: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Counting-sort table of band values: (count per value, start of each value's run)."""
    counts = np.bincount(vals, minlength=1 << width).astype(np.int32)
    starts = np.zeros(counts.size + 1, dtype=np.int64)
    np.cumsum(counts, out=starts[1:])
    return counts, starts


def _hits(query: np.ndarray, counts: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every (probe index, position in the sorted table) whose band value a probe asked for."""
    cnt = counts[query]
    hit = np.flatnonzero(cnt)
    cnt = cnt[hit]
    probe = np.repeat(hit, cnt)
    return probe, np.repeat(starts[query[hit]] - np.cumsum(cnt) + cnt, cnt) + np.arange(probe.size)


def _probe_band(hashes: np.ndarray, shift: int, width: int, k: int, radius: int,
                threads: int) -> list[tuple[np.ndarray, np.ndarray]]:
    n = hashes.size
    vals = ((hashes >> np.uint64(shift)) & np.uint64((1 << width) - 1)).astype(np.uint32)
    counts, starts = _table(vals, width)
    order = np.argsort(vals, kind="stable").astype(np.int32)
    # Probing in sorted order keeps the table reads local: v ^ mask of neighbouring sorted
    # values land in neighbouring buckets (≈ 10× fewer cache misses than input order).
    svals = vals[order]
    masks = _masks(width, k)
    per_pass = max(1, _CHUNK // max(n, 1))
    groups = [masks[i:i + per_pass] for i in range(0, masks.size, per_pass)]

    def run(group: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        probe, pos = _hits((svals[None, :] ^ group[:, None]).ravel(), counts, starts)
        src, dst = order[probe % n], order[pos]
        keep = src < dst  # each unordered pair once (the probe is symmetric)
        src, dst = src[keep], dst[keep]
        close = popcount64(hashes[src] ^ hashes[dst]) <= radius
        return src[close], dst[close]

    if threads > 1 and len(groups) > 1:
        with ThreadPoolExecutor(threads) as pool:  # numpy drops the GIL in these kernels
            return list(pool.map(run, groups))
    return [run(g) for g in groups]


def near_pairs(hashes: np.ndarray, radius: int, *, threads: int = 1,
               band_bits: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Every index pair (i < j) with Hamming(hashes[i], hashes[j]) ≤ radius, each once.

    ``hashes`` is a uint64 array (convert signed values with ``.view(np.uint64)``).
    ``band_bits`` caps the differing bits probed per band below the exact ⌊radius/m⌋: the
    search is then complete up to m·(band_bits + 1) − 1 bits and finds a farther pair only
    when one of its bands is that close (radius 12 with ``band_bits=2`` costs what radius 8
    does).
    """
    hashes = np.ascontiguousarray(hashes, dtype=np.uint64)
    n = hashes.size
    if n < 2 or radius < 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    if radius >= 64:
        i, j = np.triu_indices(n, 1)
        return i, j
    m = _plan(n, radius, band_bits)
    k = _probe_bits(radius, m, band_bits)
    parts: list[tuple[np.ndarray, np.ndarray]] = []
    for shift, width in _bands(m):
        parts += _probe_band(hashes, shift, width, k, radius, threads)
    src = np.concatenate([p[0] for p in parts]).astype(np.int64)
    dst = np.concatenate([p[1] for p in parts]).astype(np.int64)
    # A pair close in several bands is found several times.
    key = np.unique(src * n + dst)
    return key // n, key % n


def brute_force_pairs(hashes: np.ndarray, radius: int,
                      tile: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """The same pairs by comparing all n²/2 of them in tiles (the reference and baseline)."""
    hashes = np.ascontiguousarray(hashes, dtype=np.uint64)
    n = hashes.size
    out_i, out_j = [np.zeros(0, dtype=np.int64)], [np.zeros(0, dtype=np.int64)]
    for a in range(0, n, tile):
        rows = hashes[a:a + tile]
        for b in range(a, n, 8 * tile):
            dist = popcount64(rows[:, None] ^ hashes[None, b:b + 8 * tile])
            i, j = np.nonzero(dist <= radius)
            i, j = i + a, j + b
            keep = i < j
            out_i.append(i[keep])
            out_j.append(j[keep])
    return np.concatenate(out_i).astype(np.int64), np.concatenate(out_j).astype(np.int64)


def near_pairs_between(queries: np.ndarray, targets: np.ndarray, radius: int, *,
                       band_bits: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Every (query index, target index) with Hamming distance ≤ radius, each once.

    Multi-index hashing as in ``near_pairs``, with the tables built over ``targets`` only
    (e.g. crop-window hashes, several per image) and probed with ``queries``. ``band_bits``
    caps the bits probed per band below the exact ⌊radius/m⌋: cheaper (at m = 3, radius 6
    with ``band_bits=1`` costs what radius 5 does) and still complete up to
    m·(band_bits + 1) − 1 bits; farther pairs are found when one band is that close.
    """
    queries = np.ascontiguousarray(queries, dtype=np.uint64)
    targets = np.ascontiguousarray(targets, dtype=np.uint64)
    nq, nt = queries.size, targets.size
    if nq == 0 or nt == 0 or radius < 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    m = _plan(max(nq, nt), radius, band_bits)
    k = _probe_bits(radius, m, band_bits)
    out_q, out_t = [np.zeros(0, dtype=np.int64)], [np.zeros(0, dtype=np.int64)]
    for shift, width in _bands(m):
        mask = np.uint64((1 << width) - 1)
        order = np.argsort((targets >> np.uint64(shift)) & mask, kind="stable")
        # Both sides sorted by band value: a probe's bucket is a contiguous run of ``tsorted``
        # and neighbouring queries probe neighbouring buckets, so the candidate checks read
        # memory almost in order (≈ 3× faster at 1 M queries × 9 M targets than by index).
        tsorted = targets[order]
        counts, starts = _table(((tsorted >> np.uint64(shift)) & mask).astype(np.uint32), width)
        qorder = np.argsort((queries >> np.uint64(shift)) & mask, kind="stable")
        qsorted = queries[qorder]
        qvals = ((qsorted >> np.uint64(shift)) & mask).astype(np.uint32)
        masks = _masks(width, k)
        per_pass = max(1, _CHUNK // nq)
        for g in range(0, masks.size, per_pass):
            probe, tpos = _hits((qvals[None, :] ^ masks[g:g + per_pass, None]).ravel(), counts, starts)
            qpos = probe % nq
            close = popcount64(qsorted[qpos] ^ tsorted[tpos]) <= radius
            out_q.append(qorder[qpos[close]])
            out_t.append(order[tpos[close]])
    key = np.unique(np.concatenate(out_q) * nt + np.concatenate(out_t))
    return key // nt, key % nt
