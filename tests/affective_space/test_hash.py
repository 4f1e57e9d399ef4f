"""The counter-based hash behind the implicit random matrix: values, moments, sparsity, independence."""

import math

import numpy as np
import pytest

from kernels.random_projection_cpu import (
    DISTRIBUTIONS,
    dense_random_matrix,
    fmix32,
    make_spec,
    random_entries,
)

N_FEATURES, K = 4000, 64


def test_fmix32_matches_murmur3_reference_values():
    # MurmurHash3 fmix32 of 0 is 0 and it is a bijection with known outputs
    assert fmix32(0) == 0
    assert fmix32(1) == 0x514E28B7
    assert fmix32(0xFFFFFFFF) == 0x81F16F39


@pytest.mark.parametrize("distribution,density", [("achlioptas", 1 / 3), ("very_sparse", 1 / math.sqrt(N_FEATURES)),
                                                  ("sparse", 0.1)])
def test_sparse_entries_have_the_intended_distribution(distribution, density):
    spec = make_spec(N_FEATURES, K, seed=3, distribution=distribution, density=0.1 if distribution == "sparse" else None)
    r = random_entries(spec, np.arange(N_FEATURES))
    assert set(np.unique(r).tolist()) <= {-1.0, 0.0, 1.0}
    n = r.size
    nonzero = np.mean(r != 0)
    # binomial standard error of the nonzero fraction; 5 sigma
    assert abs(nonzero - density) < 5 * math.sqrt(density * (1 - density) / n)
    assert abs(np.mean(r == 1) - np.mean(r == -1)) < 5 * math.sqrt(density / n)
    scaled = r * spec.scale
    assert abs(np.mean(scaled**2) - 1 / K) < 0.02 / K  # E[R^2] = 1/k: squared norms kept on average


def test_gaussian_entries_are_standard_normal():
    spec = make_spec(N_FEATURES, K, seed=5, distribution="gaussian")
    r = random_entries(spec, np.arange(N_FEATURES)).astype(np.float64).ravel()
    n = r.size
    assert abs(r.mean()) < 5 / math.sqrt(n)
    assert abs(r.var() - 1.0) < 5 * math.sqrt(2 / n)
    assert abs(np.mean(r**4) - 3.0) < 0.1  # Gaussian kurtosis, not a two-point law
    assert abs(np.mean(np.abs(r) < 1.0) - 0.6827) < 0.01


@pytest.mark.parametrize("distribution", DISTRIBUTIONS)
def test_entries_are_uncorrelated_across_features_components_and_seeds(distribution):
    a = dense_random_matrix(N_FEATURES, K, seed=0, distribution=distribution, density=0.2)
    b = dense_random_matrix(N_FEATURES, K, seed=1, distribution=distribution, density=0.2)
    bound = 5 / math.sqrt(N_FEATURES)
    for x, y in [(a[:, 0], a[:, 1]), (a[:-1, 0], a[1:, 0]), (a[:, 0], b[:, 0]), (a[:, 5], a[:, 37])]:
        assert abs(np.corrcoef(x, y)[0, 1]) < bound
    # columns of R are near-orthogonal, so projections of orthogonal inputs stay uncorrelated
    gram = (a.T @ a)
    off = gram[~np.eye(K, dtype=bool)]
    assert np.abs(off).max() < 6 * math.sqrt(N_FEATURES) / K


def test_entries_depend_only_on_feature_component_and_seed():
    spec = make_spec(N_FEATURES, K, seed=11)
    full = random_entries(spec, np.arange(N_FEATURES))
    picked = np.array([3999, 7, 1234, 7])
    comps = np.array([63, 0, 17])
    assert np.array_equal(random_entries(spec, picked, comps), full[np.ix_(picked, comps)])
    again = random_entries(make_spec(N_FEATURES, K, seed=11), np.arange(N_FEATURES))
    assert np.array_equal(full, again)
    other = random_entries(make_spec(N_FEATURES, K, seed=12), np.arange(N_FEATURES))
    assert np.mean(full == other) < 0.6  # a different seed gives a different matrix


def test_spec_rejects_bad_arguments():
    with pytest.raises(ValueError):
        make_spec(10, 4, 0, "rademacher")
    with pytest.raises(ValueError):
        make_spec(10, 4, 0, "sparse", density=None)
    with pytest.raises(ValueError):
        make_spec(10, 0, 0)
