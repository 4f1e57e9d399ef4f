"""Tour construction rules of the CPU twin (kernels/aco_cpu.py) and the sequential baseline.

The statistical tests use fixed seeds, so they are deterministic; their thresholds (|z| < 4,
chi-square p > 1e-4) would still flag a rule that is off by a few percent.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate, stats

from kernels import aco_cpu
from lightning_modules.parallel_aco.sequential import construct_sequential


def _random_P(n: int, seed: int = 0, normalise: bool = True) -> np.ndarray:
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 100, size=(n, 2))
    d = np.sqrt(((xy[:, None] - xy[None]) ** 2).sum(-1)) + 1.0
    tau = rng.uniform(0.5, 2.0, size=(n, n))
    P = tau / d**2
    np.fill_diagonal(P, 0.0)
    if normalise:
        P /= P.sum(0, keepdims=True)
    return P.astype(np.float32)


def _is_permutation(tours: np.ndarray) -> bool:
    n = tours.shape[1]
    return bool((np.sort(tours, axis=1) == np.arange(n)).all())


@pytest.mark.parametrize("n, m", [(3, 5), (4, 7), (17, 17), (60, 23)])
def test_every_construction_returns_permutations(n, m):
    P = _random_P(n, seed=n)
    assert _is_permutation(aco_cpu.construct_air(P, m, seed=1, round_base=0))
    assert _is_permutation(aco_cpu.construct_roulette(aco_cpu.quantize_rows(P), m, seed=1, round_base=0))
    assert _is_permutation(construct_sequential(P, m, np.random.default_rng(1)))


def test_air_picks_argmax_of_u_times_p_times_taboo_for_given_u():
    n, m = 12, 9
    P = _random_P(n, seed=4)
    rng = np.random.default_rng(5)
    U = rng.random((n - 1, m, n), dtype=np.float32)
    tours = aco_cpu.construct_air(P, m, seed=0, round_base=0, U=U).copy()
    # Reference straight from the authors' MATLAB: penalty .* Dice .* P(cur, :), max along rows.
    taboo = np.ones((m, n), np.float32)
    cur = U[0].argmax(axis=1)
    assert (tours[:, 0] == cur).all()
    taboo[np.arange(m), cur] = 0
    for r in range(1, n - 1):
        expected = (taboo * U[r] * P[cur]).argmax(axis=1)
        assert (tours[:, r] == expected).all(), f"round {r}"
        cur = expected
        taboo[np.arange(m), cur] = 0
    assert (tours[:, -1] == taboo.argmax(axis=1)).all()


def test_generator_mode_equals_explicit_mode_with_the_same_numbers():
    """The hash stream fed in as explicit U / R gives the same tours: both kernel modes agree."""
    n, m, seed, base = 15, 6, 7, 3 * 15
    P = _random_P(n, seed=8)
    ws = aco_cpu.Workspace(m, n, seed)
    elem = np.arange(m * n, dtype=np.uint32).reshape(m, n)
    pre = aco_cpu.relabel(seed, aco_cpu.STREAM_AIR, elem)
    U = np.stack([(aco_cpu.random_bits(pre, seed, aco_cpu.STREAM_AIR, base + r) >> 8).astype(np.float32)
                  for r in range(n - 1)])
    hashed = aco_cpu.construct_air(P, m, seed, base, ws=ws).copy()
    assert (aco_cpu.construct_air(P, m, seed, base, U=U) == hashed).all()
    pre_r = aco_cpu.relabel(seed, aco_cpu.STREAM_ROULETTE, np.arange(m, dtype=np.uint32))
    R = np.stack([aco_cpu.random_bits(pre_r, seed, aco_cpu.STREAM_ROULETTE, base + r).astype(np.float64) * 2.0**-32
                  for r in range(n - 1)])
    Q = aco_cpu.quantize_rows(P)
    assert (aco_cpu.construct_roulette(Q, m, seed, base, R=R) == aco_cpu.construct_roulette(Q, m, seed, base)).all()


def test_same_inputs_same_tours_and_workspace_reuse_is_clean():
    P = _random_P(30, seed=9)
    ws = aco_cpu.Workspace(30, 30, 3)
    first = aco_cpu.construct_air(P, 30, 3, 0, ws=ws).copy()
    aco_cpu.construct_air(P, 30, 3, 30, ws=ws)  # another iteration in between
    assert (aco_cpu.construct_air(P, 30, 3, 0, ws=ws) == first).all()
    assert (aco_cpu.construct_air(P, 30, 3, 0) == first).all()
    assert not (aco_cpu.construct_air(P, 30, 3, 30) == first).all()


def _second_city_counts(tours: np.ndarray, start: int, n: int) -> np.ndarray:
    return np.bincount(tours[tours[:, 0] == start, 1], minlength=n)


def test_roulette_frequencies_match_p():
    n, m = 6, 60_000
    P = _random_P(n, seed=10)
    Q = aco_cpu.quantize_rows(P)
    tours = aco_cpu.construct_roulette(Q, m, seed=11, round_base=0)
    for start in range(n):
        counts = _second_city_counts(tours, start, n)
        p = P[start].astype(np.float64)
        p[start] = 0.0
        expected = counts.sum() * p / p.sum()
        keep = np.arange(n) != start
        assert counts[start] == 0
        assert stats.chisquare(counts[keep], expected[keep]).pvalue > 1e-4


def test_sequential_frequencies_match_p():
    n, m = 5, 10_000
    P = _random_P(n, seed=12)
    tours = construct_sequential(P, m, np.random.default_rng(13))
    for start in range(n):
        counts = _second_city_counts(tours, start, n)
        p = P[start].astype(np.float64)
        keep = np.arange(n) != start
        assert stats.chisquare(counts[keep], counts.sum() * p[keep] / p[keep].sum()).pvalue > 1e-4


def _air_probability(p_win: float, others: list[float]) -> float:
    """P(U_1 p_1 > U_k p_k for all k), U i.i.d. uniform(0, 1): integral of prod_k min(1, u p_1 / p_k)."""
    value, _ = integrate.quad(lambda u: np.prod([min(1.0, u * p_win / q) for q in others]), 0.0, 1.0,
                              points=[q / p_win for q in others if q < p_win], limit=200)
    return value


def test_air_two_candidates_closed_form():
    """Three cities: after the start, two candidates; P(pick the larger p1) = 1 - p2 / (2 p1)."""
    n, m = 3, 90_000
    P = _random_P(n, seed=14, normalise=False)
    tours = aco_cpu.construct_air(P, m, seed=15, round_base=0)
    for start in range(n):
        a, b = [j for j in range(n) if j != start]
        p1, p2 = max(P[start, a], P[start, b]), min(P[start, a], P[start, b])
        big = a if P[start, a] >= P[start, b] else b
        counts = _second_city_counts(tours, start, n)
        total = counts.sum()
        closed = 1.0 - p2 / (2.0 * p1)
        assert closed == pytest.approx(_air_probability(p1, [p2]), abs=1e-9)
        z = (counts[big] - total * closed) / np.sqrt(total * closed * (1 - closed))
        assert abs(z) < 4, (start, counts, closed)


def test_air_three_candidates_match_their_integral_and_differ_from_roulette():
    n, m = 4, 120_000
    P = _random_P(n, seed=16, normalise=False)
    tours = aco_cpu.construct_air(P, m, seed=17, round_base=0)
    start = 0
    counts = _second_city_counts(tours, start, n)[1:]
    p = P[start, 1:].astype(np.float64)
    air = np.array([_air_probability(p[k], [p[j] for j in range(3) if j != k]) for k in range(3)])
    assert air.sum() == pytest.approx(1.0, abs=1e-7)
    assert stats.chisquare(counts, counts.sum() * air).pvalue > 1e-4
    # AIR favours the most attractive city more than proportional selection does.
    assert air[p.argmax()] > p.max() / p.sum() + 0.02
    assert stats.chisquare(counts, counts.sum() * p / p.sum()).pvalue < 1e-6
