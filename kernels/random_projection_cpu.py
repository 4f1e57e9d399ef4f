"""CPU twin of `kernels/random_projection.cu`: Y = scale * A R with R implicit (never stored whole).

Entry R[j, c] of the random matrix is a function of (feature j, component c, seed) only:

    key1     = fmix32(seed * 0x9E3779B9 + 0x7F4A7C15)          key2 = fmix32(key1 ^ 0x6A09E667)
    fkey(j)  = fmix32((j * RP_C_FEAT) ^ key)                   (per feature, once per block)
    h(j, c)  = fmix32(fkey1(j) ^ (c * RP_C_COMP + RP_C_COMP_ADD))
    sparse:    +1 if h < half, -1 if half <= h < thresh, else 0;  scale = sqrt(1/density) / sqrt(k)
    gaussian:  Box-Muller on the top 24 bits of h and of h2 (the key2 stream); scale = 1 / sqrt(k)

with fmix32 MurmurHash3's finalizer and all arithmetic mod 2^32. Because the value depends on nothing
else, any blocking or device gives the same matrix; with binary A and sign entries every partial sum
is an integer, so this twin and the kernel agree exactly before the final scale.

Speed: R is generated one feature block at a time (a vectorised hash over block x k entries, ~2 ns
each) and accumulated straight into the output, so peak memory is the output plus one block; a full
matrix is never materialised, unlike scikit-learn's SparseRandomProjection which stores its sparse
components and then a sparse product. Importable without CuPy.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np

# scipy is imported where it is used: the GPU machine's test environment has numpy, torch and cupy
# only, and its kernel-vs-twin test needs nothing of this module but the numpy hash.

# Must equal the #defines in random_projection.cu (a test parses the source and compares).
RP_C_FEAT = 0x85EBCA77
RP_C_COMP = 0x27D4EB2F
RP_C_COMP_ADD = 0x165667B1
_SEED_MUL, _SEED_ADD, _STREAM2 = 0x9E3779B9, 0x7F4A7C15, 0x6A09E667
_M32 = 0xFFFFFFFF
_TWO_PI = np.float32(6.2831855)
_INV_2_24 = np.float32(2.0**-24)

DISTRIBUTIONS = ("achlioptas", "very_sparse", "sparse", "gaussian")
# Below this density a block's nonzeros are gathered into a sparse R instead of a dense block:
# the sparse product then costs nnz(A) * k * density instead of nnz(A) * k.
SPARSE_R_BELOW = 0.02
ROW_BLOCK = 1024  # rows per sparse-product slice: bounds its temporaries to ~0.1 MiB


def fmix32(x: int) -> int:
    """MurmurHash3's 32-bit finalizer on one Python int (for keys; arrays use `_fmix32_inplace`)."""
    x &= _M32
    x ^= x >> 16
    x = (x * 0x85EBCA6B) & _M32
    x ^= x >> 13
    x = (x * 0xC2B2AE35) & _M32
    return x ^ (x >> 16)


def _fmix32_inplace(h: np.ndarray) -> np.ndarray:
    h ^= h >> np.uint32(16)
    h *= np.uint32(0x85EBCA6B)
    h ^= h >> np.uint32(13)
    h *= np.uint32(0xC2B2AE35)
    h ^= h >> np.uint32(16)
    return h


@dataclass(frozen=True)
class ProjectionSpec:
    """Everything the kernel and the twin need besides the matrix: shared so they cannot drift."""

    distribution: str
    dist_id: int  # template argument of rp_csr: 0 sparse signs, 1 Gaussian
    k: int
    density: float
    thresh: int
    half: int
    scale: float
    key1: int
    key2: int


def make_spec(n_features: int, k: int, seed: int, distribution: str = "achlioptas",
              density: float | None = None) -> ProjectionSpec:
    """Resolve a distribution name (and optional density) into integer thresholds and keys."""
    if distribution not in DISTRIBUTIONS:
        raise ValueError(f"distribution must be one of {DISTRIBUTIONS}, got {distribution!r}")
    if k < 1 or n_features < 1:
        raise ValueError(f"need k >= 1 and n_features >= 1, got k={k}, n_features={n_features}")
    key1 = fmix32(((int(seed) & _M32) * _SEED_MUL + _SEED_ADD) & _M32)
    key2 = fmix32(key1 ^ _STREAM2)
    if distribution == "gaussian":
        return ProjectionSpec(distribution, 1, k, 1.0, 0, 0, 1.0 / math.sqrt(k), key1, key2)
    if distribution == "achlioptas":
        density = 1.0 / 3.0
    elif distribution == "very_sparse":
        density = 1.0 / math.sqrt(n_features)  # Li, Hastie & Church (2006); sklearn's density="auto"
    elif density is None or not 0.0 < density <= 1.0:
        raise ValueError(f"distribution='sparse' needs 0 < density <= 1, got {density!r}")
    thresh = min(int(density * 2.0**32), _M32)
    half = thresh // 2
    # the realised density is thresh / 2^32; scale by it so E[R^2] = 1 exactly
    real_density = thresh / 2.0**32
    scale = 1.0 / math.sqrt(real_density * k)
    return ProjectionSpec(distribution, 0, k, real_density, thresh, half, scale, key1, key2)


def feature_keys(features: np.ndarray, key: int) -> np.ndarray:
    h = np.asarray(features).astype(np.uint32) * np.uint32(RP_C_FEAT)
    h ^= np.uint32(key)
    return _fmix32_inplace(h)


def component_terms(k: int) -> np.ndarray:
    return np.arange(k, dtype=np.uint32) * np.uint32(RP_C_COMP) + np.uint32(RP_C_COMP_ADD)


def _fill_block(spec: ProjectionSpec, features: np.ndarray, cterm: np.ndarray, hbuf: np.ndarray,
                out: np.ndarray, bbuf: np.ndarray) -> np.ndarray:
    """Unscaled entries R[features, :] into `out` (float32, len(features) x k), reusing buffers."""
    np.bitwise_xor(feature_keys(features, spec.key1)[:, None], cterm[None, :], out=hbuf)
    _fmix32_inplace(hbuf)
    if spec.dist_id == 0:
        # 2*[h < half] - [h < thresh] is +1 below half, -1 in [half, thresh), 0 above
        np.less(hbuf, np.uint32(spec.half), out=bbuf)
        np.multiply(bbuf, np.float32(2.0), out=out)
        np.less(hbuf, np.uint32(spec.thresh), out=bbuf)
        np.subtract(out, bbuf, out=out)
        return out
    u1 = ((hbuf >> np.uint32(8)).astype(np.float32) + np.float32(0.5)) * _INV_2_24
    np.bitwise_xor(feature_keys(features, spec.key2)[:, None], cterm[None, :], out=hbuf)
    _fmix32_inplace(hbuf)
    u2 = (hbuf >> np.uint32(8)).astype(np.float32) * _INV_2_24
    np.log(u1, out=u1)
    u1 *= np.float32(-2.0)
    np.sqrt(u1, out=u1)
    u2 *= _TWO_PI
    np.cos(u2, out=u2)
    np.multiply(u1, u2, out=out)
    return out


def random_entries(spec: ProjectionSpec, features: np.ndarray, components: np.ndarray | None = None) -> np.ndarray:
    """R[features, components] without the scale (reference and tests; not the fast path)."""
    features = np.asarray(features)
    cterm = component_terms(spec.k) if components is None else (
        np.asarray(components, dtype=np.uint32) * np.uint32(RP_C_COMP) + np.uint32(RP_C_COMP_ADD))
    shape = (len(features), len(cterm))
    out = np.empty(shape, np.float32)
    return _fill_block(spec, features, cterm, np.empty(shape, np.uint32), out, np.empty(shape, bool))


def dense_random_matrix(n_features: int, k: int, seed: int, distribution: str = "achlioptas",
                        density: float | None = None) -> np.ndarray:
    """The whole scaled R (n_features x k) as a dense array: a reference for small tests only."""
    spec = make_spec(n_features, k, seed, distribution, density)
    return random_entries(spec, np.arange(n_features)) * np.float32(spec.scale)


def _csc_matvecs():
    """scipy's in-place kernel Y += A @ X (A in CSC): public scipy has no out= for sparse @ dense, and
    `Y += A_block @ R_block` would allocate an n x k temporary per block."""
    try:
        from scipy.sparse._sparsetools import csc_matvecs
    except ImportError:  # pragma: no cover - only on a scipy that moved its private kernels
        return None
    return csc_matvecs


def _accumulate(y: np.ndarray, a_csc, j0: int, j1: int, r_block: np.ndarray) -> None:
    """y += A[:, j0:j1] @ r_block, in place."""
    p0, p1 = a_csc.indptr[j0], a_csc.indptr[j1]
    csc_matvecs = _csc_matvecs()
    if csc_matvecs is not None:
        csc_matvecs(y.shape[0], j1 - j0, y.shape[1], a_csc.indptr[j0:j1 + 1] - p0,
                     a_csc.indices[p0:p1], a_csc.data[p0:p1], r_block.ravel(), y.ravel())
    else:  # pragma: no cover
        y += a_csc[:, j0:j1] @ r_block


def _block_nonzeros(spec: ProjectionSpec, j0: int, j1: int, cterm: np.ndarray):
    """(feature, component, sign) of the nonzeros of R[j0:j1]: for a very sparse R only the hash and
    one comparison touch every entry."""
    h = np.bitwise_xor(feature_keys(np.arange(j0, j1), spec.key1)[:, None], cterm[None, :])
    _fmix32_inplace(h)
    jj, cc = np.nonzero(h < np.uint32(spec.thresh))
    signs = np.where(h[jj, cc] < np.uint32(spec.half), np.float32(1.0), np.float32(-1.0))
    return (jj + j0).astype(np.int32), cc.astype(np.int32), signs


def _in_order(fn, starts, workers: int):
    """fn(start) for each start, yielded in order, computed up to `workers` ahead on a thread pool
    (workers = 0: in the calling thread).

    numpy's ufuncs and scipy's sparse kernels release the GIL, so hashing the next blocks overlaps with
    accumulating this one; the bounded look-ahead keeps at most `workers` blocks in memory, and results
    are consumed in order, so the output does not depend on the number of threads.
    """
    if workers <= 0:
        yield from map(fn, starts)
        return
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    starts = iter(starts)
    with ThreadPoolExecutor(workers) as pool:
        pending = deque(pool.submit(fn, s) for _, s in zip(range(workers), starts))
        while pending:
            result = pending.popleft().result()
            nxt = next(starts, None)
            if nxt is not None:
                pending.append(pool.submit(fn, nxt))
            yield result


def _sparse_random_matrix(spec: ProjectionSpec, n_features: int, block: int, workers: int = 1):
    """Only the nonzeros of a very sparse R (about density * n_features * k), unscaled, as CSR."""
    import scipy.sparse as sp

    cterm = component_terms(spec.k)
    parts = list(_in_order(lambda j0: _block_nonzeros(spec, j0, min(n_features, j0 + block), cterm),
                           range(0, n_features, block), workers))
    rows, cols, vals = (np.concatenate(p) for p in zip(*parts))
    indptr = np.zeros(n_features + 1, np.int32)
    np.cumsum(np.bincount(rows, minlength=n_features), out=indptr[1:])
    # blocks come in feature order and np.nonzero is row-major, so entries are already CSR-sorted
    return sp.csr_matrix((vals, cols, indptr), shape=(n_features, spec.k))


def _as_float32(matrix):
    import scipy.sparse as sp

    if not sp.issparse(matrix):
        raise TypeError(f"random_projection expects a scipy.sparse matrix, got {type(matrix).__name__}")
    if matrix.format not in ("csr", "csc"):
        matrix = matrix.tocsr()
    if matrix.dtype != np.float32:
        matrix = matrix.astype(np.float32)
    return matrix


def random_projection(matrix, k: int, seed: int = 0, distribution: str = "achlioptas",
                      density: float | None = None, block_features: int | None = None,
                      threads: int | None = None) -> np.ndarray:
    """Project the rows of a sparse matrix to k dimensions: float32 array (n_rows x k).

    Same numbers as `kernels.random_projection.random_projection_cuda` for the same arguments, and
    the same numbers for any `block_features` and `threads` (default: up to 4 cores).
    """
    matrix = _as_float32(matrix)
    n_rows, n_features = matrix.shape
    spec = make_spec(n_features, k, seed, distribution, density)
    cterm = component_terms(k)
    # ~1 MiB of hash buffer per block: stays in L2, so the hash runs at memory-free speed
    block = block_features or max(256, (1 << 18) // k)
    workers = max(1, threads if threads is not None else min(4, os.cpu_count() or 1))

    if spec.dist_id == 0 and spec.density < SPARSE_R_BELOW:
        r_sparse = _sparse_random_matrix(spec, n_features, block, workers if workers > 1 else 0)
        a_csr = matrix.tocsr()
        y = np.empty((n_rows, k), np.float32)
        # row blocks bound the sparse product's temporaries; the output is written in place
        for r0 in range(0, n_rows, ROW_BLOCK):
            r1 = min(n_rows, r0 + ROW_BLOCK)
            (a_csr[r0:r1] @ r_sparse).toarray(out=y[r0:r1])
    else:
        a_csc = matrix.tocsc()
        y = np.zeros((n_rows, k), np.float32)
        # blocks no row uses are skipped: their entries never matter
        starts = [j0 for j0 in range(0, n_features, block)
                  if a_csc.indptr[min(n_features, j0 + block)] > a_csc.indptr[j0]]

        def make(j0: int):
            nb = min(n_features, j0 + block) - j0
            out = np.empty((nb, k), np.float32)
            return j0, _fill_block(spec, np.arange(j0, j0 + nb), cterm, np.empty((nb, k), np.uint32), out,
                                   np.empty((nb, k), bool))

        # one consumer accumulates in block order while the pool hashes the next blocks
        for j0, r in _in_order(make, starts, workers - 1):
            _accumulate(y, a_csc, j0, j0 + len(r), r)
    y *= np.float32(spec.scale)
    return y
