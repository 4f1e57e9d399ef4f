"""CuPy wrapper for `kernels/air_select.cu`: one ACO iteration's tours on the GPU, from torch tensors.

The kernels run on torch's current CUDA stream (DLPack views, no copies, no host round trip per
step); the CPU twin with the same contract is `kernels/aco_cpu.py`. CuPy is imported only when a
kernel is launched, so this module imports on machines without CUDA.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import torch

SOURCE = Path(__file__).resolve().with_name("air_select.cu")
THREADS = 256  # one block per ant; 256 threads cover n = 1,000 in 4 cities per thread per step
Q_SCALE = 2.0**32  # keep equal to kernels.aco_cpu.Q_SCALE


@functools.cache
def _module(threads: int):
    import cupy

    return cupy.RawModule(code=SOURCE.read_text(), options=("--std=c++17", f"-DACO_THREADS={threads}"))


def quantize_rows(P: torch.Tensor) -> torch.Tensor:
    """torch twin of kernels.aco_cpu.quantize_rows (same IEEE float64 operations, any device)."""
    P64 = P.to(torch.float64)
    scale = Q_SCALE / P64.amax(dim=1, keepdim=True)
    return torch.floor(P64 * scale).clamp_min(1.0).to(torch.int64).contiguous()


def _require(t: torch.Tensor, name: str, dtype: torch.dtype, shape: tuple, device: torch.device) -> None:
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    if t.dtype != dtype:
        raise TypeError(f"{name} must be {dtype}, got {t.dtype}")
    if tuple(t.shape) != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {tuple(t.shape)}")
    if t.device != device or t.device.type != "cuda":
        raise ValueError(f"{name} must be on {device} (a CUDA device), got {t.device}")
    if not t.is_contiguous():
        raise ValueError(f"{name} must be contiguous")


def construct(rule: str, weights: torch.Tensor, D: torch.Tensor, m: int, seed: int, round_base: int,
              explicit: torch.Tensor | None = None, threads: int = THREADS) -> tuple[torch.Tensor, torch.Tensor]:
    """Tours int32 [m, n] and lengths int64 [m] for one iteration.

    rule "air": weights = P float32 [n, n]; explicit U float32 [n - 1, m, n] optional.
    rule "roulette": weights = Q int64 [n, n] (quantize_rows(P)); explicit R float64 [n - 1, m] optional.
    round_base = iteration * n: round r of this iteration draws with counter round_base + r.
    """
    import cupy

    if rule not in ("air", "roulette"):
        raise ValueError(f"rule must be 'air' or 'roulette', got {rule!r}")
    device = weights.device
    n = weights.shape[0]
    if n < 3 or m < 1 or m * n >= 2**32:
        raise ValueError(f"need n >= 3, m >= 1 and m * n < 2^32, got n={n}, m={m}")
    wdtype = torch.float32 if rule == "air" else torch.int64
    _require(weights, "weights", wdtype, (n, n), device)
    _require(D, "D", torch.int32, (n, n), device)
    edtype = torch.float32 if rule == "air" else torch.float64
    use_explicit = explicit is not None
    if use_explicit:
        _require(explicit, "explicit", edtype, (n - 1, m, n) if rule == "air" else (n - 1, m), device)
    else:
        explicit = torch.zeros(1, dtype=edtype, device=device)  # never read: use flag 0
    tours = torch.empty((m, n), dtype=torch.int32, device=device)
    lengths = torch.empty(m, dtype=torch.int64, device=device)
    name = "aco_construct_air" if rule == "air" else "aco_construct_roulette"
    stream = torch.cuda.current_stream(device)
    with cupy.cuda.Device(device.index), cupy.cuda.ExternalStream(stream.cuda_stream):
        kernel = _module(threads).get_function(name)
        args = (cupy.from_dlpack(weights), cupy.from_dlpack(D), np.int32(n), np.int32(m),
                np.uint32(seed & 0xFFFFFFFF), np.uint64(round_base), cupy.from_dlpack(explicit),
                np.int32(use_explicit), cupy.from_dlpack(tours), cupy.from_dlpack(lengths))
        kernel((m,), (threads,), args, shared_mem=n)
    return tours, lengths
