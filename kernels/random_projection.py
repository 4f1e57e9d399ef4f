"""CuPy wrapper of `kernels/random_projection.cu`: random projection of a CSR matrix on the GPU.

Inputs and output are torch CUDA tensors (shared with CuPy through DLPack, no copies) and the kernel
runs on torch's current stream, so it orders correctly with the surrounding torch work. The random
matrix is implicit: `kernels.random_projection_cpu.make_spec` turns (seed, distribution, density) into
the keys and integer thresholds both implementations use, so the CPU twin gives the same numbers.
"""

from __future__ import annotations

import functools
import math

from kernels import KERNEL_DIR
from kernels.random_projection_cpu import make_spec

_SOURCE = KERNEL_DIR / "random_projection.cu"
# Template instantiations, also read by tests/frame/test_kernels_compile.py to compile-check them.
NAME_EXPRESSIONS = ("rp_csr<0>", "rp_csr<1>")
MAX_THREADS = 256


@functools.cache
def _module(defines: tuple[tuple[str, int], ...] = ()):
    import cupy

    options = ("--std=c++17",) + tuple(f"-D{key}={value}" for key, value in defines)
    return cupy.RawModule(code=_SOURCE.read_text(), options=options, name_expressions=NAME_EXPRESSIONS)


def _check(name: str, tensor, dtype, device) -> None:
    if tensor.dtype != dtype:
        raise TypeError(f"{name} must be {dtype}, got {tensor.dtype}")
    if tensor.device != device:
        raise ValueError(f"{name} is on {tensor.device}, expected {device}")
    if tensor.dim() != 1 or not tensor.is_contiguous():
        raise ValueError(f"{name} must be a contiguous 1-D tensor")


def random_projection_cuda(indptr, indices, data, n_features: int, k: int, seed: int = 0,
                           distribution: str = "achlioptas", density: float | None = None,
                           tile: int | None = None):
    """Y = A R * scale for the CSR matrix (indptr, indices, data): float32 tensor (n_rows x k).

    indptr/indices int32 and data float32, all contiguous on the same CUDA device; indices sorted
    within rows give the same summation order as the CPU twin.
    """
    import cupy
    import torch

    device = data.device
    if device.type != "cuda":
        raise ValueError(f"random_projection_cuda needs CUDA tensors, got {device}")
    _check("indptr", indptr, torch.int32, device)
    _check("indices", indices, torch.int32, device)
    _check("data", data, torch.float32, device)
    if indices.numel() != data.numel():
        raise ValueError(f"indices ({indices.numel()}) and data ({data.numel()}) differ in length")
    n_rows = indptr.numel() - 1
    spec = make_spec(n_features, k, seed, distribution, density)
    out = torch.empty((n_rows, k), dtype=torch.float32, device=device)
    if n_rows == 0:
        return out
    threads = min(MAX_THREADS, 32 * math.ceil(k / 32))
    grid = (n_rows, math.ceil(k / threads))
    defines = (("RP_TILE", int(tile)),) if tile else ()
    kernel = _module(defines).get_function(NAME_EXPRESSIONS[spec.dist_id])
    args = (cupy.from_dlpack(indptr), cupy.from_dlpack(indices), cupy.from_dlpack(data),
            cupy.int32(n_rows), cupy.int32(k), cupy.uint32(spec.key1), cupy.uint32(spec.key2),
            cupy.uint32(spec.thresh), cupy.uint32(spec.half), cupy.float32(spec.scale), cupy.from_dlpack(out))
    with cupy.cuda.Device(device.index or 0), \
            cupy.cuda.ExternalStream(torch.cuda.current_stream(device).cuda_stream):
        kernel(grid, (threads,), args)
    return out


def random_projection_csr(matrix, k: int, seed: int = 0, distribution: str = "achlioptas",
                          density: float | None = None, device: str = "cuda"):
    """Convenience: a scipy sparse matrix in, a CUDA float32 tensor (n_rows x k) out."""
    import numpy as np
    import torch

    csr = matrix.tocsr().astype(np.float32)
    csr.sort_indices()
    if csr.nnz >= 2**31:
        raise ValueError("over 2^31 nonzeros: the kernel indexes with int32")
    as_t = lambda a, dt: torch.from_numpy(np.ascontiguousarray(a, dtype=dt)).to(device)  # noqa: E731
    return random_projection_cuda(as_t(csr.indptr, np.int32), as_t(csr.indices, np.int32),
                                  as_t(csr.data, np.float32), csr.shape[1], k, seed, distribution, density)
