// A CPU emulation of the few CUDA constructs kernels/air_select.cu uses, so its logic (reductions,
// scans, tie-breaking, synchronisation points) can be checked against the NumPy twin on a machine
// without a GPU. Blocks run one after another; the threads of a block are std::threads, so every
// __syncthreads and warp shuffle is a real barrier and a block-shared variable is a function static.
// Not a model of GPU timing or of the memory model: it checks the algorithm, the GPU tier the rest.
#pragma once
#include <barrier>
#include <cmath>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>
#include <algorithm>

#define __global__
#define __device__
#define __forceinline__ inline
#define __restrict__

struct EmuDim { int x = 0; };
inline thread_local EmuDim threadIdx;
inline EmuDim blockIdx;
inline std::barrier<> *emu_block_barrier = nullptr;
inline std::barrier<> *emu_warp_barrier[32];
inline unsigned char emu_dynamic_smem[1 << 20];
inline long long emu_exchange[1024];

using std::floor;
using std::min;

inline void __syncthreads() { emu_block_barrier->arrive_and_wait(); }
inline float __int_as_float(int x) { float f; std::memcpy(&f, &x, sizeof f); return f; }
inline float __fmul_rn(float a, float b) { volatile float r = a * b; return r; }

template <class T> T emu_shuffle(T v, int delta, bool down) {
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
    std::memcpy(&emu_exchange[tid], &v, sizeof(T));
    emu_warp_barrier[warp]->arrive_and_wait();
    const int src = down ? lane + delta : lane - delta;
    T out = v;
    if (src >= 0 && src < 32) std::memcpy(&out, &emu_exchange[warp * 32 + src], sizeof(T));
    emu_warp_barrier[warp]->arrive_and_wait();
    return out;
}
#define __shfl_down_sync(mask, v, off) emu_shuffle((v), (off), true)
#define __shfl_up_sync(mask, v, off) emu_shuffle((v), (off), false)

template <class F> void emu_launch(int grid, int threads, F kernel) {
    for (int b = 0; b < grid; ++b) {
        blockIdx.x = b;
        std::barrier<> block(threads);
        emu_block_barrier = &block;
        std::vector<std::unique_ptr<std::barrier<>>> warps;
        for (int w = 0; w < threads / 32; ++w) {
            warps.emplace_back(std::make_unique<std::barrier<>>(32));
            emu_warp_barrier[w] = warps.back().get();
        }
        std::vector<std::thread> pool;
        for (int t = 0; t < threads; ++t) pool.emplace_back([t, &kernel] { threadIdx.x = t; kernel(); });
        for (auto &th : pool) th.join();
    }
}
