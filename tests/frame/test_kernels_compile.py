"""Every CUDA source compiles with NVRTC, without a GPU, so a broken kernel fails CI.

Templated kernels are instantiated through the names their wrapper (`kernels/<stem>.py`) lists in
NAME_EXPRESSIONS, exactly as its RawModule does.
"""

import importlib
import importlib.util

import pytest

from kernels import cuda_sources
from kernels._compile import KernelCompileError, compile_to_ptx


@pytest.mark.parametrize("cu", cuda_sources(), ids=lambda p: p.name)
def test_kernel_compiles_to_ptx(cu):
    wrapper = f"kernels.{cu.stem}"
    names = getattr(importlib.import_module(wrapper), "NAME_EXPRESSIONS", None) \
        if importlib.util.find_spec(wrapper) else None
    ptx = compile_to_ptx(cu, name_expressions=names)
    assert ".entry" in ptx  # at least one kernel made it into the module


def test_a_broken_kernel_is_reported(tmp_path):
    bad = tmp_path / "bad.cu"
    bad.write_text('extern "C" __global__ void k(float* x) { x[i] = 0; }\n')
    with pytest.raises(KernelCompileError, match="identifier \"i\" is undefined"):
        compile_to_ptx(bad)
