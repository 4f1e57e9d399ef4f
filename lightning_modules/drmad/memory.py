"""Peak memory of one hypergradient call, measured the way each device allows.

Why not tracemalloc: it sees Python allocations only; torch tensors are allocated in C++ and are
invisible to it. What is measured instead:
- CUDA: torch's allocator statistics (`max_memory_allocated` after `reset_peak_memory_stats`), in
  bytes of live tensors above the level at the start of the call. Exact for tensors.
- CPU on Linux: the kernel's resident-set high-water mark. Writing "5" to /proc/self/clear_refs
  resets VmHWM to the current RSS; after the call, VmHWM - RSS(start) is the peak growth of the
  process. Before the reset, `malloc_trim(0)` hands freed heap pages back to the kernel, so memory a
  previous call freed (for instance the exact method's trajectory) is not silently reused and missed.
  This still counts whole pages and allocator slack, and it can undercount when an allocation is
  served from pages that stayed resident, so it is a process-level figure, not a tensor count.
- elsewhere: RSS sampled by a background thread every millisecond (can miss short spikes).
The bytes a method deliberately keeps for its reverse pass (stored trajectory, remainders, two
endpoints) are reported separately by each method from the tensors themselves (`kept_bytes`).
"""

from __future__ import annotations

import ctypes
import threading
from pathlib import Path

import torch

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def _status_kb(field: str) -> int | None:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def rss_bytes() -> int:
    kb = _status_kb("VmRSS")
    if kb is not None:
        return kb * 1024
    import psutil

    return psutil.Process().memory_info().rss


def _malloc_trim() -> None:
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _reset_hwm() -> bool:
    try:
        _CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return _status_kb("VmHWM") is not None


class PeakMemory:
    """start() ... stop() -> peak bytes above the level at start(); `source` names the measure."""

    def __init__(self, device=None, sample_s: float = 0.001):
        self.device = torch.device(device) if device is not None else torch.device("cpu")
        self.sample_s = sample_s
        self.source = ""
        self._base = 0
        self._thread = None
        self._peak = 0
        self._stop = threading.Event()

    def start(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self._base = torch.cuda.memory_allocated(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self.source = "cuda_max_memory_allocated"
            return
        _malloc_trim()
        if _reset_hwm():
            self._base = rss_bytes()
            self.source = "cpu_vmhwm"
            return
        self._base = self._peak = rss_bytes()
        self.source = "cpu_rss_sampled"
        self._stop.clear()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(self.sample_s):
            self._peak = max(self._peak, rss_bytes())

    def stop(self) -> int:
        if self.source == "cuda_max_memory_allocated":
            torch.cuda.synchronize(self.device)
            return max(0, torch.cuda.max_memory_allocated(self.device) - self._base)
        if self.source == "cpu_vmhwm":
            return max(0, _status_kb("VmHWM") * 1024 - self._base)
        self._stop.set()
        self._thread.join()
        self._peak = max(self._peak, rss_bytes())
        return max(0, self._peak - self._base)
