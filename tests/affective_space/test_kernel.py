"""The CUDA kernel: compiles without a GPU (NVRTC), shares its constants with the twin, and (GPU tier)
computes what the CPU twin computes. The GPU tests need only numpy, torch, cupy and pytest."""

import re

import numpy as np
import pytest

from kernels import KERNEL_DIR
from kernels import random_projection_cpu as twin

CU = KERNEL_DIR / "random_projection.cu"
NAMES = ["rp_csr<0>", "rp_csr<1>"]


def test_kernel_compiles_without_a_gpu():
    from kernels._compile import compile_to_ptx

    ptx = compile_to_ptx(CU, arch="compute_90", name_expressions=NAMES)
    assert len(re.findall(r"\.entry\s+_Z6rp_csrILi[01]EE", ptx)) == 2
    assert compile_to_ptx(CU, defines={"RP_TILE": 64}, name_expressions=NAMES[:1])


def test_kernel_and_twin_share_hash_constants():
    source = CU.read_text()
    defines = dict(re.findall(r"#define\s+(RP_C_\w+)\s+(0x[0-9A-Fa-f]+)u", source))
    assert int(defines["RP_C_FEAT"], 16) == twin.RP_C_FEAT
    assert int(defines["RP_C_COMP"], 16) == twin.RP_C_COMP
    assert int(defines["RP_C_COMP_ADD"], 16) == twin.RP_C_COMP_ADD
    # MurmurHash3's finalizer multipliers, as the twin's _fmix32_inplace uses them
    assert "h *= 0x85EBCA6Bu;" in source and "h *= 0xC2B2AE35u;" in source


# ---------------------------------------------------------------------------------------------- GPU
def _gpu_ready() -> bool:
    try:
        import cupy
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available() and cupy.is_available())


gpu = pytest.mark.skipif(not _gpu_ready(), reason="needs a CUDA GPU with cupy and torch")


def _csr_arrays(n=700, d=5000, mean_nnz=12, binary=True, seed=0):
    """CSR arrays with sorted indices, an empty row and rows longer than one shared-memory tile."""
    rng = np.random.default_rng(seed)
    counts = rng.poisson(mean_nnz, n)
    counts[3] = 0
    counts[10] = 1000  # > RP_TILE: the tile loop runs several times
    counts[11] = d
    indices = [np.sort(rng.choice(d, size=c, replace=False)) for c in counts]
    indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    idx = np.concatenate(indices).astype(np.int32)
    data = np.ones(len(idx), np.float32) if binary else rng.standard_normal(len(idx)).astype(np.float32)
    return indptr, idx, data, d


def _dense(indptr, indices, data, d):
    out = np.zeros((len(indptr) - 1, d), np.float64)
    rows = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))
    out[rows, indices] = data
    return out


def _run_kernel(indptr, indices, data, d, k, seed, distribution, density=None, tile=None):
    import torch

    from kernels.random_projection import random_projection_cuda

    t = lambda a: torch.from_numpy(a).cuda()  # noqa: E731
    y = random_projection_cuda(t(indptr), t(indices), t(data), d, k, seed, distribution, density, tile=tile)
    torch.cuda.synchronize()
    return y.cpu().numpy()


@pytest.mark.gpu
@gpu
@pytest.mark.parametrize("distribution", twin.DISTRIBUTIONS)
@pytest.mark.parametrize("k", [1, 50, 100, 300])
def test_kernel_equals_cpu_twin(distribution, k):
    indptr, indices, data, d = _csr_arrays(binary=distribution != "gaussian")
    density = 0.05 if distribution == "sparse" else None
    y = _run_kernel(indptr, indices, data, d, k, 7, distribution, density)
    reference = _dense(indptr, indices, data, d) @ twin.dense_random_matrix(d, k, 7, distribution, density)
    np.testing.assert_allclose(y, reference, rtol=1e-4, atol=1e-4)
    assert np.all(y[3] == 0)
    try:
        import scipy.sparse as sp
    except ImportError:
        return
    cpu = twin.random_projection(sp.csr_matrix((data, indices, indptr), shape=(len(indptr) - 1, d)), k, 7,
                                 distribution, density)
    if distribution == "gaussian":
        np.testing.assert_allclose(y, cpu, rtol=1e-5, atol=1e-5)  # logf/cosf ulps apart
    else:
        assert np.array_equal(y, cpu)  # integer partial sums: bit-identical


@pytest.mark.gpu
@gpu
def test_kernel_tile_size_does_not_change_the_result():
    indptr, indices, data, d = _csr_arrays(binary=False, seed=1)
    a = _run_kernel(indptr, indices, data, d, 64, 3, "achlioptas")
    b = _run_kernel(indptr, indices, data, d, 64, 3, "achlioptas", tile=32)
    np.testing.assert_array_equal(a, b)  # same order of summation, only the staging differs


@pytest.mark.gpu
@gpu
def test_kernel_runs_on_torchs_current_stream():
    import torch

    from kernels.random_projection import random_projection_cuda

    indptr, indices, data, d = _csr_arrays(seed=2)
    expected = _run_kernel(indptr, indices, data, d, 32, 0, "achlioptas")
    stream = torch.cuda.Stream()
    with torch.cuda.stream(stream):
        t = [torch.from_numpy(a).cuda(non_blocking=False) for a in (indptr, indices, data)]
        y = random_projection_cuda(*t, d, 32, 0, "achlioptas")
        y2 = y * 2  # queued behind the kernel on the same stream
    stream.synchronize()
    np.testing.assert_array_equal(y2.cpu().numpy(), 2 * expected)


@pytest.mark.gpu
@gpu
def test_wrapper_checks_inputs():
    import torch

    from kernels.random_projection import random_projection_cuda

    indptr, indices, data, d = _csr_arrays(n=5, d=20, mean_nnz=3)
    good = [torch.from_numpy(a).cuda() for a in (indptr, indices, data)]
    with pytest.raises(TypeError):
        random_projection_cuda(good[0], good[1].long(), good[2], d, 4)
    with pytest.raises(ValueError):
        random_projection_cuda(good[0], good[1], good[2].cpu(), d, 4)
    with pytest.raises(ValueError):
        random_projection_cuda(good[0], good[1], good[2][::2], d, 4)
