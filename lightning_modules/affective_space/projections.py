"""Building the space: random projection (AffectiveSpace 2) or truncated SVD (AffectiveSpace 1).

`build_space` returns the k-dimensional concept vectors with the wall time and peak memory of the
build alone (matrix already loaded), measured the same way for every method:
CPU peak = tracemalloc's peak of traced allocations (numpy and scipy arrays are traced), GPU peak =
torch.cuda.max_memory_allocated above the level before the build.
"""

from __future__ import annotations

import time
import tracemalloc
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from reproduce.errors import UserError

METHODS = ("rp", "svd", "sklearn_srp")


@dataclass
class Space:
    vectors: object  # np.ndarray (CPU) or torch.Tensor (CUDA), float32 (n_concepts x k)
    build_s: float
    peak_mb: float
    backend: str


def _rp_cpu(matrix, k, seed, distribution, density, block_features, threads):
    from kernels.random_projection_cpu import random_projection

    return random_projection(matrix, k, seed, distribution, density, block_features, threads)


def _rp_cuda(csr_tensors, n_features, k, seed, distribution, density):
    from kernels.random_projection import random_projection_cuda

    return random_projection_cuda(*csr_tensors, n_features, k, seed, distribution, density)


def _svd(matrix, k, seed, n_iter, algorithm):
    from sklearn.decomposition import TruncatedSVD

    # U_k Sigma_k, as AffectiveSpace 1 kept (rows of the rank-k reconstruction in SVD coordinates)
    svd = TruncatedSVD(n_components=k, algorithm=algorithm, n_iter=n_iter, random_state=seed)
    return svd.fit_transform(matrix).astype(np.float32, copy=False)


def _sklearn_srp(matrix, k, seed, density):
    from sklearn.random_projection import SparseRandomProjection

    srp = SparseRandomProjection(n_components=k, density=density, dense_output=True, random_state=seed)
    return srp.fit_transform(matrix).astype(np.float32, copy=False)


def build_space(matrix: sp.csr_matrix, method: str, k: int, seed: int, device: str = "cpu",
                distribution: str = "achlioptas", density: float | None = None,
                block_features: int | None = None, svd_n_iter: int = 5, svd_algorithm: str = "randomized",
                sklearn_density: float | str = "auto", measure_memory: bool = True,
                threads: int | None = None) -> Space:
    """Project `matrix` to k dimensions with `method`; times only the projection.

    `threads` caps the CPU twin's hashing threads (None: up to 4); results do not depend on it.
    """
    if method not in METHODS:
        raise UserError(f"paper.module.method must be one of {list(METHODS)}, got {method!r}")
    if not 1 <= k < min(matrix.shape):
        raise UserError(f"k={k} must lie in [1, {min(matrix.shape) - 1}] for a {matrix.shape} matrix")
    on_gpu = str(device).startswith("cuda")

    if method == "rp" and on_gpu:
        import torch

        csr = matrix.tocsr()
        csr.sort_indices()
        if csr.nnz >= 2**31:
            raise UserError("the matrix has over 2^31 nonzeros; the CUDA kernel indexes with int32")
        tensors = tuple(torch.from_numpy(np.ascontiguousarray(a, dtype=dt)).to(device)
                        for a, dt in ((csr.indptr, np.int32), (csr.indices, np.int32), (csr.data, np.float32)))
        _rp_cuda(tensors, csr.shape[1], k, seed, distribution, density)  # warm-up: NVRTC compile + load
        torch.cuda.synchronize(device)
        base = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        start = time.perf_counter()
        vectors = _rp_cuda(tensors, csr.shape[1], k, seed, distribution, density)
        torch.cuda.synchronize(device)
        elapsed = time.perf_counter() - start
        peak = (torch.cuda.max_memory_allocated(device) - base) / 2**20
        return Space(vectors, elapsed, peak, "cuda-kernel")

    if method == "rp":
        run = lambda: _rp_cpu(matrix, k, seed, distribution, density, block_features, threads)  # noqa: E731
        backend = "cpu-twin"
    elif method == "svd":
        run = lambda: _svd(matrix, k, seed, svd_n_iter, svd_algorithm)  # noqa: E731
        backend = f"sklearn-truncated-svd-{svd_algorithm}"
    else:
        run = lambda: _sklearn_srp(matrix, k, seed, sklearn_density)  # noqa: E731
        backend = "sklearn-sparse-random-projection"
    if measure_memory:
        tracemalloc.start()
    try:
        start = time.perf_counter()
        vectors = run()
        elapsed = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1] / 2**20 if measure_memory else float("nan")
    finally:
        if measure_memory:
            tracemalloc.stop()
    if on_gpu:
        import torch

        vectors = torch.from_numpy(vectors).to(device)
    return Space(vectors, elapsed, peak, backend)
