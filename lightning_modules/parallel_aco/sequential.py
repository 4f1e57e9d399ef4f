"""The sequential MMAS tour construction the paper compares against: one ant at a time, one step at
a time, textbook roulette-wheel selection on the same shared probability matrix P.

The loops over ants and steps are the point of this baseline (it is what "the sequential version"
means); within a step the row work is NumPy. Its random numbers come from NumPy's PCG64 seeded by
the run seed, not from the kernels' counter-based generator: this is a separate implementation of
the same distribution as `construct_roulette`, checked against it statistically in the tests.
"""

from __future__ import annotations

import numpy as np


def construct_sequential(P: np.ndarray, m: int, rng: np.random.Generator) -> np.ndarray:
    """Tours [m, n] int32; ant k starts at a uniform city and moves with probability P[cur, j] /
    sum over unvisited j."""
    n = P.shape[0]
    P64 = np.ascontiguousarray(P, dtype=np.float64)
    tours = np.empty((m, n), np.int32)
    allowed = np.empty(n, np.float64)
    weights = np.empty(n, np.float64)
    cumulative = np.empty(n, np.float64)
    for k in range(m):
        # this ant's random numbers, drawn in one call: the start, then one per step
        draws = rng.random(n).tolist()
        allowed.fill(1.0)
        cur = min(int(draws[0] * n), n - 1)
        tours[k, 0] = cur
        allowed[cur] = 0.0
        for step in range(1, n):
            np.multiply(P64[cur], allowed, out=weights)
            np.cumsum(weights, out=cumulative)
            nxt = int(cumulative.searchsorted(draws[step] * cumulative[-1], side="right"))
            if nxt >= n or allowed[nxt] == 0.0:  # the draw rounded onto the total: take the last open city
                nxt = int(np.flatnonzero(allowed)[-1])
            tours[k, step] = nxt
            allowed[nxt] = 0.0
            cur = nxt
    return tours
