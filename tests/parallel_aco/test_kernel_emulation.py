"""kernels/air_select.cu run on the CPU through a small CUDA emulation (cuda_emulation/), tour for
tour against the NumPy twin: catches a wrong reduction, scan or tie-break in CI, without a GPU.

It compiles the real kernel source (text-adapted: `__shared__` -> function statics, the dynamic
shared array -> a static buffer) with g++; skipped where no C++20 compiler exists.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from kernels import KERNEL_DIR, aco_cpu

HERE = Path(__file__).resolve().parent / "cuda_emulation"
CXX = shutil.which("g++")
pytestmark = pytest.mark.skipif(CXX is None, reason="needs g++ (C++20) for the CUDA emulation")


def _adapt(source: str) -> str:
    source = source.replace("extern __shared__ unsigned char visited[];",
                            "unsigned char *visited = emu_dynamic_smem;")
    return source.replace("__shared__ ", "static ")


@pytest.fixture(scope="module")
def build(tmp_path_factory):
    built = {}

    def get(threads: int) -> Path:
        if threads not in built:
            work = tmp_path_factory.mktemp(f"emu{threads}")
            (work / "kernel.inc").write_text(_adapt((KERNEL_DIR / "air_select.cu").read_text()))
            exe = work / "driver"
            cmd = [CXX, "-std=c++20", "-O1", "-ffp-contract=off", "-pthread", f"-DACO_THREADS={threads}",
                   f"-I{HERE}", f"-I{work}", str(HERE / "driver.cpp"), "-o", str(exe)]
            result = subprocess.run(cmd, capture_output=True, text=True)
            if result.returncode != 0:
                pytest.fail(f"emulation build failed:\n{result.stderr[-3000:]}")
            built[threads] = exe
        return built[threads]

    return get


def _run(exe: Path, tmp: Path, rule: str, weights: np.ndarray, D: np.ndarray, m: int, seed: int, base: int,
         explicit: np.ndarray | None = None):
    n = D.shape[0]
    weights.tofile(tmp / "weights.bin")
    D.astype(np.int32).tofile(tmp / "D.bin")
    if explicit is not None:
        explicit.tofile(tmp / "explicit.bin")
    args = [str(exe), rule, str(n), str(m), str(seed), str(base), str(int(explicit is not None)), str(tmp)]
    subprocess.run(args, check=True, timeout=300)
    tours = np.fromfile(tmp / "tours.bin", dtype=np.int32).reshape(m, n)
    return tours, np.fromfile(tmp / "lengths.bin", dtype=np.int64)


def _problem(n: int, seed: int):
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 1000, size=(n, 2))
    D = np.floor(np.sqrt(((xy[:, None] - xy[None]) ** 2).sum(-1)) + 0.5).astype(np.int32)
    P = rng.uniform(0.2, 1.0, size=(n, n)) / np.maximum(D, 1) ** 2
    np.fill_diagonal(P, 0.0)
    return np.ascontiguousarray((P / P.sum(0, keepdims=True)).astype(np.float32)), D


def _check(exe, tmp, n, m, seed, base):
    P, D = _problem(n, seed)
    want = aco_cpu.construct_air(P, m, seed, base).copy()
    tours, lengths = _run(exe, tmp, "air", P, D, m, seed, base)
    assert np.array_equal(tours, want)
    assert np.array_equal(lengths, aco_cpu.tour_lengths(D, want))
    Q = aco_cpu.quantize_rows(P)
    want = aco_cpu.construct_roulette(Q, m, seed, base).copy()
    tours, lengths = _run(exe, tmp, "roulette", Q, D, m, seed, base)
    assert np.array_equal(tours, want)
    assert np.array_equal(lengths, aco_cpu.tour_lengths(D, want))


def test_emulated_kernels_equal_the_twin(build, tmp_path):
    # n > threads, so each thread scans several cities and the roulette chunks hold several cities;
    # one warp keeps the emulation's thread barriers cheap on a loaded machine
    _check(build(32), tmp_path, n=45, m=3, seed=3, base=2**32 + 5)


@pytest.mark.slow
@pytest.mark.parametrize("threads, n, m", [(32, 5, 6), (64, 150, 4), (256, 40, 6), (256, 300, 3)])
def test_emulated_kernels_equal_the_twin_more_shapes(build, tmp_path, threads, n, m):
    _check(build(threads), tmp_path, n=n, m=m, seed=n, base=7 * n)


@pytest.mark.slow
def test_emulated_kernels_with_explicit_random_numbers(build, tmp_path):
    n, m = 30, 4
    P, D = _problem(n, 9)
    rng = np.random.default_rng(10)
    U = rng.random((n - 1, m, n), dtype=np.float32)
    tours, _ = _run(build(64), tmp_path, "air", P, D, m, 0, 0, explicit=U)
    assert np.array_equal(tours, aco_cpu.construct_air(P, m, 0, 0, U=U))
    R = rng.random((n - 1, m))
    Q = aco_cpu.quantize_rows(P)
    tours, _ = _run(build(64), tmp_path, "roulette", Q, D, m, 0, 0, explicit=R)
    assert np.array_equal(tours, aco_cpu.construct_roulette(Q, m, 0, 0, R=R))
