"""Compile a `.cu` file to PTX with NVRTC, without a GPU.

CuPy's RawModule compiles lazily and needs a device; NVRTC itself does not, so CI (no GPU) can
still catch a kernel that no longer compiles. NVRTC comes with torch's CUDA wheel
(nvidia-cuda-nvrtc 13.0) and is reached through CuPy's binding.
"""

from __future__ import annotations

from pathlib import Path


class KernelCompileError(RuntimeError):
    pass


def compile_to_ptx(cu_path: str | Path, arch: str = "compute_90", defines: dict | None = None,
                   name_expressions: list[str] | None = None) -> str:
    """PTX text of `cu_path`; raises KernelCompileError with NVRTC's log when compilation fails."""
    from cupy_backends.cuda.libs import nvrtc

    cu_path = Path(cu_path)
    options = [f"--gpu-architecture={arch}", "--std=c++17"]
    options += [f"-D{key}={value}" for key, value in (defines or {}).items()]
    prog = nvrtc.createProgram(cu_path.read_text(), cu_path.name, [], [])
    try:
        for expr in name_expressions or []:
            nvrtc.addNameExpression(prog, expr)
        try:
            nvrtc.compileProgram(prog, options)
        except nvrtc.NVRTCError as err:
            raise KernelCompileError(f"{cu_path.name}: {err}\n{nvrtc.getProgramLog(prog)}") from err
        ptx = nvrtc.getPTX(prog)
        return ptx.decode() if isinstance(ptx, bytes) else ptx
    finally:
        nvrtc.destroyProgram(prog)
