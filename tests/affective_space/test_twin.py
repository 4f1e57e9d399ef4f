"""The CPU twin of the random-projection kernel equals a dense reference product A @ R."""

import numpy as np
import pytest
import scipy.sparse as sp

from kernels.random_projection_cpu import DISTRIBUTIONS, dense_random_matrix, random_projection


def _matrix(n=300, d=900, density=0.02, binary=True, seed=0):
    a = sp.random(n, d, density=density, format="csr", dtype=np.float32, random_state=seed)
    if binary:
        a.data[:] = 1.0
    a = sp.vstack([a, sp.csr_matrix((1, d), dtype=np.float32)]).tolil()  # an empty last row
    a[5, :] = 1.0  # a dense row: one block touches every feature
    a[:, 17] = 0.0  # an unused feature
    a = a.tocsr()
    a.eliminate_zeros()
    return a


@pytest.mark.parametrize("distribution", DISTRIBUTIONS)
@pytest.mark.parametrize("k", [1, 7, 100])
def test_twin_equals_dense_reference(distribution, k):
    a = _matrix()
    density = 0.05 if distribution == "sparse" else None
    reference = a.toarray().astype(np.float64) @ dense_random_matrix(a.shape[1], k, 4, distribution, density)
    y = random_projection(a, k, seed=4, distribution=distribution, density=density, block_features=128)
    assert y.shape == (a.shape[0], k) and y.dtype == np.float32
    np.testing.assert_allclose(y, reference, rtol=1e-5, atol=1e-5)
    assert np.all(y[a.shape[0] - 1] == 0)  # empty row -> zero vector


@pytest.mark.parametrize("distribution", ["achlioptas", "very_sparse"])
def test_sign_entries_on_binary_data_are_exact_for_any_blocking_and_threads(distribution):
    a = _matrix(binary=True)
    ys = [random_projection(a, 33, 9, distribution, block_features=b) for b in (1, 64, 1000, 10**6)]
    ys += [random_projection(a, 33, 9, distribution, block_features=50, threads=t) for t in (1, 2, 3)]
    ys.append(random_projection(a.tocsc(), 33, 9, distribution))
    ys.append(random_projection(a.tocoo().astype(np.float64), 33, 9, distribution))
    for y in ys[1:]:
        assert np.array_equal(y, ys[0])  # integer partial sums: bitwise equal, not just close


def test_weighted_data_and_gaussian_match_reference():
    a = _matrix(binary=False, seed=2)
    reference = a.toarray().astype(np.float64) @ dense_random_matrix(a.shape[1], 50, 1, "gaussian")
    np.testing.assert_allclose(random_projection(a, 50, 1, "gaussian"), reference, rtol=1e-4, atol=1e-5)


def test_projection_preserves_squared_norms_on_average():
    a = _matrix(n=2000, d=3000, density=0.01, seed=3)
    norms = np.asarray(a.multiply(a).sum(1)).ravel()
    keep = norms > 0
    y = random_projection(a, 200, 0)
    ratio = (y**2).sum(1)[keep] / norms[keep]
    assert abs(ratio.mean() - 1.0) < 0.02  # unbiased
    assert abs(ratio.std() - np.sqrt(2 / 200)) < 0.03  # Achlioptas: variance 2/k, as a Gaussian's


def test_rejects_dense_input():
    with pytest.raises(TypeError):
        random_projection(np.ones((3, 3), np.float32), 2)
