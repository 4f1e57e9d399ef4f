"""CUDA raw kernels (`*.cu`), their thin CuPy wrappers, and CPU twins importable without CuPy.

Layout per kernel: `<name>.cu` (source; its header names the compile-time #defines), `<name>.py`
(the CuPy wrapper: one RawModule per file, checks before launch), and a CPU twin that computes the
same numbers from the same inputs so a contract test can compare them exactly.
"""

from pathlib import Path

KERNEL_DIR = Path(__file__).resolve().parent


def cuda_sources() -> list[Path]:
    return sorted(KERNEL_DIR.glob("*.cu"))
