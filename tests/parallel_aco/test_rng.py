"""The counter-based generator shared by the CPU twin and the CUDA kernels."""

from __future__ import annotations

import numpy as np
from scipy import stats

from kernels import aco_cpu


def test_vectorised_mix_equals_the_scalar_definition():
    x = np.random.default_rng(0).integers(0, 2**32, size=2000, dtype=np.uint64).astype(np.uint32)
    out = x.copy()
    aco_cpu._mix_inplace(out, np.empty_like(out))
    assert out.tolist() == [aco_cpu.mix32(int(v)) for v in x]
    assert aco_cpu.mix32(0) == 0  # xorshift-multiply steps fix 0; the keys keep 0 from ever mattering


def test_bits_follow_the_documented_formula():
    seed, counter = 12345, 7 * 2**32 + 99  # a counter above 32 bits exercises the high word
    elem = np.arange(50, dtype=np.uint32)
    bits = aco_cpu.random_bits(aco_cpu.relabel(seed, aco_cpu.STREAM_AIR, elem), seed, aco_cpu.STREAM_AIR, counter)
    key = aco_cpu.mix32(aco_cpu.STREAM_AIR ^ aco_cpu.mix32(seed))
    k_c = aco_cpu.mix32((aco_cpu.mix32(key ^ (counter & 0xFFFFFFFF)) + (counter >> 32)) & 0xFFFFFFFF)
    assert bits.tolist() == [aco_cpu.mix32(aco_cpu.mix32(e ^ key) ^ k_c) for e in range(50)]


def test_uniform_within_a_round_and_across_rounds():
    m = n = 512
    elem = np.arange(m * n, dtype=np.uint32)
    pre = aco_cpu.relabel(3, aco_cpu.STREAM_AIR, elem)
    a = aco_cpu.random_bits(pre, 3, aco_cpu.STREAM_AIR, 1000)
    b = aco_cpu.random_bits(pre, 3, aco_cpu.STREAM_AIR, 1001)
    for sample in (a, b):
        counts = np.bincount(sample >> 24, minlength=256)
        assert stats.chisquare(counts).pvalue > 1e-4
    # the same (ant, city) in consecutive rounds, and neighbouring cities in one round: uncorrelated
    ua, ub = (a >> 8).astype(np.float64), (b >> 8).astype(np.float64)
    limit = 4.0 / np.sqrt(ua.size)
    assert abs(np.corrcoef(ua, ub)[0, 1]) < limit
    assert abs(np.corrcoef(ua[:-1], ua[1:])[0, 1]) < limit
    # rounds do not reuse each other's values wholesale
    assert np.intersect1d(a, b).size < 20


def test_round_keys_do_not_collide_and_depend_on_seed_and_stream():
    keys = {aco_cpu.round_key(0, aco_cpu.STREAM_AIR, c) for c in range(100_000)}
    assert len(keys) > 99_990  # 32-bit keys: a handful of birthday collisions at most
    assert aco_cpu.round_key(0, aco_cpu.STREAM_AIR, 5) != aco_cpu.round_key(1, aco_cpu.STREAM_AIR, 5)
    assert aco_cpu.round_key(0, aco_cpu.STREAM_AIR, 5) != aco_cpu.round_key(0, aco_cpu.STREAM_ROULETTE, 5)
    assert aco_cpu.round_key(0, aco_cpu.STREAM_AIR, 5) != aco_cpu.round_key(0, aco_cpu.STREAM_AIR, 5 + 2**32)


def test_quantized_weights_are_exactly_proportional_up_to_2_pow_minus_32():
    P = np.random.default_rng(4).random((20, 20)).astype(np.float32)
    P[3, 7] = 1e-30  # tiny weights keep a non-zero chance
    Q = aco_cpu.quantize_rows(P)
    assert Q.dtype == np.int64 and (Q >= 1).all() and Q[3, 7] == 1
    assert (Q.max(axis=1) >= 2**32 - 1).all() and (Q.max(axis=1) <= 2**32).all()
    rel = Q / Q.sum(axis=1, keepdims=True) - P / P.astype(np.float64).sum(axis=1, keepdims=True)
    assert np.abs(rel).max() < 20 * 2.0**-32
