"""CUDA kernels: compile without a GPU (every CI run); equal the CPU twin tour for tour (GPU tier).

The GPU tier runs with torch + cupy + numpy + pytest only:  python -m pytest tests/parallel_aco -m gpu
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from kernels import KERNEL_DIR, aco, aco_cpu

CU_FILES = sorted(KERNEL_DIR.glob("*.cu"))
OUR_CU = KERNEL_DIR / "air_select.cu"


def _gpu_available() -> bool:
    try:
        import cupy

        return torch.cuda.is_available() and cupy.is_available()
    except Exception:  # noqa: BLE001 - no CUDA runtime at all
        return False


gpu = pytest.mark.skipif(not _gpu_available(), reason="needs a CUDA GPU with CuPy")


@pytest.mark.parametrize("threads", [32, 256, 1024])
def test_kernels_compile_without_a_gpu(threads):
    from kernels._compile import compile_to_ptx

    ptx = compile_to_ptx(OUR_CU, defines={"ACO_THREADS": threads})
    assert ".entry aco_construct_air(" in ptx and ".entry aco_construct_roulette(" in ptx


def test_a_bad_define_fails_to_compile():
    from kernels._compile import KernelCompileError, compile_to_ptx

    with pytest.raises(KernelCompileError, match="ACO_THREADS must be a multiple of 32"):
        compile_to_ptx(OUR_CU, defines={"ACO_THREADS": 100})


def test_torch_quantize_equals_the_twin():
    P = np.random.default_rng(0).random((40, 40)).astype(np.float32) ** 8  # a wide dynamic range
    assert np.array_equal(aco.quantize_rows(torch.from_numpy(P)).numpy(), aco_cpu.quantize_rows(P))


def test_wrapper_refuses_bad_inputs_before_launch():
    P = torch.rand(8, 8)
    D = torch.ones(8, 8, dtype=torch.int32)
    with pytest.raises(ValueError, match="CUDA device"):
        aco.construct("air", P, D, 4, 0, 0)
    with pytest.raises(TypeError, match="torch.float32"):
        aco.construct("air", P.double(), D, 4, 0, 0)
    with pytest.raises(ValueError, match="rule"):
        aco.construct("greedy", P, D, 4, 0, 0)


# ---------------------------------------------------------------------------------------- GPU tier


def _problem(n: int, seed: int):
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 1000, size=(n, 2))
    D = np.floor(np.sqrt(((xy[:, None] - xy[None]) ** 2).sum(-1)) + 0.5).astype(np.int32)
    tau = rng.uniform(0.2, 1.0, size=(n, n))
    P = tau / np.maximum(D, 1) ** 2
    np.fill_diagonal(P, 0.0)
    P = (P / P.sum(0, keepdims=True)).astype(np.float32)
    # a few exact ties inside rows, so the lowest-index rule is exercised
    P[:, 1::7] = P[:, 1:2]
    np.fill_diagonal(P, 0.0)
    return np.ascontiguousarray(P), D


CASES = [(5, 3), (33, 17), (100, 100), (257, 64), (600, 40)]


@pytest.mark.gpu
@gpu
@pytest.mark.parametrize("n, m", CASES)
@pytest.mark.parametrize("rule", ["air", "roulette"])
def test_kernel_tours_equal_twin_tours(rule, n, m):
    P, D = _problem(n, seed=n)
    dev = torch.device("cuda")
    seed, base = 11, 7 * n
    if rule == "air":
        want = aco_cpu.construct_air(P, m, seed, base).copy()
        weights = torch.from_numpy(P).to(dev)
    else:
        Q = aco_cpu.quantize_rows(P)
        want = aco_cpu.construct_roulette(Q, m, seed, base).copy()
        weights = aco.quantize_rows(torch.from_numpy(P).to(dev))
        assert np.array_equal(weights.cpu().numpy(), Q)
    for threads in (32, 256, 1024):
        tours, lengths = aco.construct(rule, weights, torch.from_numpy(D).to(dev), m, seed, base, threads=threads)
        assert np.array_equal(tours.cpu().numpy(), want), f"threads={threads}"
        assert np.array_equal(lengths.cpu().numpy(), aco_cpu.tour_lengths(D, want))


@pytest.mark.gpu
@gpu
@pytest.mark.parametrize("rule", ["air", "roulette"])
def test_kernel_with_explicit_random_numbers_equals_twin(rule):
    n, m = 40, 25
    P, D = _problem(n, seed=3)
    rng = np.random.default_rng(4)
    dev = torch.device("cuda")
    if rule == "air":
        U = rng.random((n - 1, m, n), dtype=np.float32)
        want = aco_cpu.construct_air(P, m, 0, 0, U=U)
        got, _ = aco.construct("air", torch.from_numpy(P).to(dev), torch.from_numpy(D).to(dev), m, 0, 0,
                               explicit=torch.from_numpy(U).to(dev))
    else:
        R = rng.random((n - 1, m))
        want = aco_cpu.construct_roulette(aco_cpu.quantize_rows(P), m, 0, 0, R=R)
        got, _ = aco.construct("roulette", aco.quantize_rows(torch.from_numpy(P).to(dev)),
                               torch.from_numpy(D).to(dev), m, 0, 0, explicit=torch.from_numpy(R).to(dev))
    assert np.array_equal(got.cpu().numpy(), want)


@pytest.mark.gpu
@gpu
def test_a_colony_runs_on_the_gpu():
    from lightning_modules.parallel_aco import run_colony
    from lightning_modules.parallel_aco.tsplib import random_euclidean

    instance = random_euclidean(60, seed=5)
    for selection in ("air", "roulette"):
        out = run_colony(instance, {"variant": "mmas_air", "iterations": 20}, selection, seed=0, device="cuda")
        assert out["final/iterations"] == 20 and out["final/best_length"] > 0
