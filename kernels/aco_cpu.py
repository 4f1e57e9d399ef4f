"""CPU twin of `kernels/air_select.cu`: the same tour construction, vectorised over ants with NumPy.

Contract (checked in tests/parallel_aco: on a GPU, and through a CPU emulation of the kernel source): for the same probability matrix, seed
and round counter -- or the same explicit random numbers -- the twin and the kernels return
identical tours. That holds because both sides do only operations with one correctly rounded
answer: 32-bit integer hashing, int->float conversion of 24-bit integers, one float32 multiply,
int64 sums (order-free), one float64 multiply, and argmax/first-crossing with the lowest city
index winning ties.

Random numbers: a counter-based generator, so any (round, ant, city) can be drawn independently
on either device. For a run seed s, stream t (AIR or roulette) and global round counter c
(iteration * n + round):
    key = mix(t ^ mix(s));  k_c = mix(mix(key ^ lo32(c)) + hi32(c))
    bits(e, c) = mix(pre(e) ^ k_c),  pre(e) = mix(e ^ key)
    e = ant * n + city (AIR) or e = ant (roulette)
with mix = lowbias32 (C. Wellons, hash-prospector: a 32-bit bijection with low avalanche bias).
pre() relabels element indices by a fixed pseudo-random bijection, so two rounds' keyed inputs
coincide only by chance (never as whole shifted blocks, as `e ^ k_c` on contiguous e would); the
twin computes pre() once per run, the kernel in registers.

Selection rules (round 0 picks the start city, rounds 1 .. n-2 the next city, the last city is
forced):
  AIR       next = argmax_j  float(bits(ant, j) >> 8) * P[cur, j]   over unvisited j
            (Fu, Lei, Zhou 2010: `max(penalty .* rand(m, n) .* P(cur, :), [], 2)`; the 2^-24 that
            would make the factor a uniform in [0, 1) is a power of two, so dropping it changes no
            comparison); start = argmax_j bits(ant, j) >> 8, i.e. a uniform city.
  roulette  exact proportional choice by inverse CDF on integer weights Q = quantize_rows(P):
            target = min(floor((bits(ant) * 2^-32) * total), total - 1); next = first unvisited j
            whose inclusive prefix sum exceeds target. Integer prefix sums are the same in any
            summation order, which is what lets a parallel GPU scan agree with numpy.cumsum.
"""

from __future__ import annotations

import numpy as np

MIX_M1, MIX_M2 = 0x7FEB352D, 0x846CA68B
STREAM_AIR, STREAM_ROULETTE = 0x41495231, 0x524F5532  # "AIR1", "ROU2": independent streams per rule
MASK32 = 0xFFFFFFFF
Q_SCALE = 2.0**32  # roulette weights: 32 bits below each row's maximum


def mix32(x: int) -> int:
    """lowbias32 on a Python int (the per-round keys; also the scalar reference in tests)."""
    x &= MASK32
    x ^= x >> 16
    x = (x * MIX_M1) & MASK32
    x ^= x >> 15
    x = (x * MIX_M2) & MASK32
    x ^= x >> 16
    return x


def stream_key(seed: int, stream: int) -> int:
    return mix32(stream ^ mix32(seed & MASK32))


def round_key(seed: int, stream: int, counter: int) -> int:
    """The 32-bit key of global round `counter` (iteration * n + round) of a run."""
    k = mix32(stream_key(seed, stream) ^ (counter & MASK32))
    return mix32((k + (counter >> 32)) & MASK32)


def _mix_inplace(x: np.ndarray, tmp: np.ndarray) -> None:
    np.right_shift(x, 16, out=tmp)
    np.bitwise_xor(x, tmp, out=x)
    np.multiply(x, np.uint32(MIX_M1), out=x)
    np.right_shift(x, 15, out=tmp)
    np.bitwise_xor(x, tmp, out=x)
    np.multiply(x, np.uint32(MIX_M2), out=x)
    np.right_shift(x, 16, out=tmp)
    np.bitwise_xor(x, tmp, out=x)


def relabel(seed: int, stream: int, elem: np.ndarray) -> np.ndarray:
    """pre(e) = mix(e ^ key) for a uint32 array of element indices (once per run)."""
    out = np.bitwise_xor(elem.astype(np.uint32), np.uint32(stream_key(seed, stream)))
    _mix_inplace(out, np.empty_like(out))
    return out


def random_bits(pre: np.ndarray, seed: int, stream: int, counter: int, out: np.ndarray | None = None,
                tmp: np.ndarray | None = None) -> np.ndarray:
    """bits(e, counter) = mix(pre(e) ^ k_counter) for the relabelled elements `pre`."""
    out = np.empty(pre.shape, np.uint32) if out is None else out
    tmp = np.empty(pre.shape, np.uint32) if tmp is None else tmp
    np.bitwise_xor(pre, np.uint32(round_key(seed, stream, counter)), out=out)
    _mix_inplace(out, tmp)
    return out


def quantize_rows(P: np.ndarray) -> np.ndarray:
    """Integer roulette weights: Q[i, j] = max(1, floor(P[i, j] * (2^32 / max_j P[i, j]))), int64.

    Relative resolution 2^-32 of the row maximum; every city keeps a non-zero weight. Uses only a
    correctly rounded float64 division and multiply, so torch on a GPU gives the same integers.
    """
    P64 = P.astype(np.float64)
    scale = Q_SCALE / P64.max(axis=1, keepdims=True)
    return np.maximum(np.floor(P64 * scale), 1.0).astype(np.int64)


class Workspace:
    """Buffers for m ants on n cities and one seed, allocated once per run (none inside a step).

    The AIR factors are hashed for `batch` rounds at a time: the same numbers as one round at a
    time, with NumPy's per-call overhead paid once per batch (it dominates below ~150 cities).
    """

    BATCH_ELEMENTS = 1 << 18  # ~1 MB of uint32 per batch buffer: stays in L2

    def __init__(self, m: int, n: int, seed: int = 0):
        if m * n >= 2**32:
            raise ValueError("m * n must stay below 2^32 (element indices are 32-bit)")
        self.m, self.n, self.seed = m, n, seed
        self.batch = int(max(1, min(n - 1, 32, self.BATCH_ELEMENTS // (m * n))))
        self.ants = np.arange(m, dtype=np.intp)
        elem = np.arange(m * n, dtype=np.uint32).reshape(m, n)
        self.pre_air = relabel(seed, STREAM_AIR, elem)
        self.pre_roulette = relabel(seed, STREAM_ROULETTE, np.arange(m, dtype=np.uint32))
        self.bits = np.empty((self.batch, m, n), np.uint32)
        self.tmp = np.empty((self.batch, m, n), np.uint32)
        self.factors = np.empty((self.batch, m, n), np.float32)
        self.score = np.empty((m, n), np.float32)
        # Visited cities as arithmetic masks: adding 0 / -inf (AIR) or and-ing with -1 / 0
        # (roulette) is branch-free, several times faster than a masked copy.
        self.penalty = np.empty((m, n), np.float32)
        self.keep = np.empty((m, n), np.int64)
        self.weight = np.empty((m, n), np.int64)
        self.cumsum = np.empty((m, n), np.int64)
        self.above = np.empty((m, n), np.bool_)
        self.target = np.empty(m, np.float64)
        self.tours = np.empty((m, n), np.int32)

    def air_factors(self, first_counter: int, rounds: int) -> np.ndarray:
        """float32 [rounds, m, n]: float(bits(e, c) >> 8) for c = first_counter ... + rounds - 1."""
        keys = np.array([round_key(self.seed, STREAM_AIR, first_counter + r) for r in range(rounds)], np.uint32)
        x, tmp = self.bits[:rounds], self.tmp[:rounds]
        np.bitwise_xor(self.pre_air[None], keys[:, None, None], out=x)
        _mix_inplace(x, tmp)
        out = self.factors[:rounds]
        np.right_shift(x, 8, out=out, casting="unsafe")  # 24-bit integers: exact in float32
        return out

    def roulette_uniforms(self, first_counter: int, rounds: int) -> np.ndarray:
        """float64 [rounds, m]: bits(ant, c) * 2^-32 for c = first_counter ... + rounds - 1."""
        keys = np.array([round_key(self.seed, STREAM_ROULETTE, first_counter + r) for r in range(rounds)], np.uint32)
        x = np.bitwise_xor(self.pre_roulette[None], keys[:, None])
        _mix_inplace(x, np.empty_like(x))
        return x.astype(np.float64) * 2.0**-32


def _finish(ws: Workspace) -> np.ndarray:
    """The last city of every tour is the one not yet visited: n(n-1)/2 minus the visited sum."""
    n = ws.n
    ws.tours[:, n - 1] = n * (n - 1) // 2 - ws.tours[:, : n - 1].sum(axis=1, dtype=np.int64)
    return ws.tours


def _check(mat: np.ndarray, dtype, m: int, ws: Workspace | None, seed: int) -> Workspace:
    n = mat.shape[0]
    if mat.dtype != dtype or mat.shape != (n, n) or not mat.flags.c_contiguous:
        raise ValueError(f"expected a C-contiguous {np.dtype(dtype).name} [n, n] matrix, got {mat.dtype} {mat.shape}")
    if n < 3:
        raise ValueError("a tour needs at least 3 cities")
    if ws is None or (ws.m, ws.n, ws.seed) != (m, n, seed):
        ws = Workspace(m, n, seed)
    return ws


def construct_air(P: np.ndarray, m: int, seed: int, round_base: int, U: np.ndarray | None = None,
                  ws: Workspace | None = None) -> np.ndarray:
    """Tours [m, n] int32 by All-In-Roulette. P: float32 [n, n] C-contiguous, shared by all ants.

    U: optional explicit factors float32 [n - 1, m, n] (round r uses U[r]); without it the
    counter-based generator draws them (round r of this iteration has counter round_base + r).
    Returns the workspace's tour buffer (overwritten by the next call with the same workspace).
    """
    ws = _check(P, np.float32, m, ws, seed)
    n = ws.n
    ants, score, penalty, tours = ws.ants, ws.score, ws.penalty, ws.tours
    penalty.fill(0.0)
    cur = None
    for first in range(0, n - 1, ws.batch):
        rounds = min(ws.batch, n - 1 - first)
        factors = U[first: first + rounds] if U is not None else ws.air_factors(round_base + first, rounds)
        for k in range(rounds):
            r = first + k
            if r == 0:
                cur = factors[0].argmax(axis=1)  # the start city: argmax of the factors alone
            else:
                np.take(P, cur, axis=0, out=score)
                np.multiply(score, factors[k], out=score)  # one IEEE float32 multiply, as the kernel
                np.add(score, penalty, out=score)
                cur = score.argmax(axis=1)  # first maximum: ties go to the lowest city, as in the kernel
            tours[:, r] = cur
            penalty[ants, cur] = -np.inf
    return _finish(ws)


def construct_roulette(Q: np.ndarray, m: int, seed: int, round_base: int, R: np.ndarray | None = None,
                       ws: Workspace | None = None) -> np.ndarray:
    """Tours [m, n] int32 by exact proportional (roulette-wheel) choice on integer weights Q [n, n].

    R: optional explicit uniforms float64 [n - 1, m] in [0, 1) (round r uses R[r]).
    """
    ws = _check(Q, np.int64, m, ws, seed)
    n = ws.n
    ants, keep, weight, csum, target, tours = ws.ants, ws.keep, ws.weight, ws.cumsum, ws.target, ws.tours
    uniforms = R if R is not None else ws.roulette_uniforms(round_base, n - 1)
    keep.fill(-1)
    cur = np.minimum(np.floor(uniforms[0] * n), n - 1).astype(np.intp)
    tours[:, 0] = cur
    keep[ants, cur] = 0
    for r in range(1, n - 1):
        np.take(Q, cur, axis=0, out=weight)
        np.bitwise_and(weight, keep, out=weight)
        np.cumsum(weight, axis=1, out=csum)
        total = csum[:, -1]
        np.multiply(uniforms[r], total, out=target)  # total < 2^53: exact in float64
        np.floor(target, out=target)
        index = np.minimum(target.astype(np.int64), total - 1)
        np.greater(csum, index[:, None], out=ws.above)
        cur = ws.above.argmax(axis=1)  # first prefix sum above the target (a bool argmax stops early)
        tours[:, r] = cur
        keep[ants, cur] = 0
    return _finish(ws)


def tour_lengths(D: np.ndarray, tours: np.ndarray) -> np.ndarray:
    """Closed-tour lengths, int64 [m], from int32 distances D [n, n]."""
    nxt = np.roll(tours, -1, axis=1)
    return D[tours, nxt].sum(axis=1, dtype=np.int64)
