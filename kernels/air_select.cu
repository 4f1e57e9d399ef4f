// Tour construction for the MAX-MIN Ant System on the GPU: All-In-Roulette (AIR) selection
// (Fu, Lei, Zhou, IWACI 2010) and exact roulette-wheel selection with the same parallel shape.
//
// Compile-time #defines:
//   ACO_THREADS  threads per block (one block per ant); a multiple of 32, at most 1024. Default 256.
//
// Kernels (extern "C"), launched with grid = m (ants), block = ACO_THREADS, dynamic shared memory
// = n bytes (the ant's visited flags):
//   aco_construct_air(P, D, n, m, seed, round_base, U, use_u, tours, lengths)
//   aco_construct_roulette(Q, D, n, m, seed, round_base, R, use_r, tours, lengths)
// P float32 [n, n] shared probability matrix; Q int64 [n, n] integer roulette weights
// (kernels/aco_cpu.quantize_rows); D int32 [n, n] distances; tours int32 [m, n]; lengths int64 [m].
// One launch builds a whole iteration: round 0 picks the start city, rounds 1 .. n-2 the next city,
// the last city is the one left; no host round trip per step.
//
// Random numbers come from a counter-based generator (or from U / R when use_u / use_r is set, for
// tests): bits(e, c) = mix(mix(e ^ key) ^ k_c), mix = lowbias32, e = ant * n + city (AIR) or ant
// (roulette), c = round_base + round. kernels/aco_cpu.py is the CPU twin and documents the contract:
// the same P / Q and seed give the same tours, because every operation here has one correctly
// rounded result (integer hashing, exact int->float conversion, one float32 multiply, int64 sums,
// one float64 multiply) and ties go to the lowest city index.

#ifndef ACO_THREADS
#define ACO_THREADS 256
#endif
#if (ACO_THREADS % 32) != 0 || ACO_THREADS > 1024
#error "ACO_THREADS must be a multiple of 32 and at most 1024"
#endif
#define ACO_WARPS (ACO_THREADS / 32)
#define FULL_MASK 0xffffffffu
// NVRTC has no <cmath> macros: -infinity by its bit pattern.
#define NEG_INF __int_as_float(0xff800000)

#define MIX_M1 0x7feb352du
#define MIX_M2 0x846ca68bu
#define STREAM_AIR 0x41495231u
#define STREAM_ROULETTE 0x524f5532u

__device__ __forceinline__ unsigned int mix32(unsigned int x) {
    x ^= x >> 16;
    x *= MIX_M1;
    x ^= x >> 15;
    x *= MIX_M2;
    x ^= x >> 16;
    return x;
}

__device__ __forceinline__ unsigned int stream_key(unsigned int seed, unsigned int stream) {
    return mix32(stream ^ mix32(seed));
}

__device__ __forceinline__ unsigned int round_key(unsigned int key, unsigned long long counter) {
    unsigned int k = mix32(key ^ (unsigned int)(counter & 0xffffffffull));
    return mix32(k + (unsigned int)(counter >> 32));
}

// (value, city) with the larger value winning and the lower city breaking ties: associative and
// commutative, so any reduction order gives numpy's argmax.
__device__ __forceinline__ void arg_better(float &v, int &j, float ov, int oj) {
    if (ov > v || (ov == v && oj < j)) {
        v = ov;
        j = oj;
    }
}

__device__ __forceinline__ void block_argmax(float v, int j, float *warp_v, int *warp_j, int *out_j) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    for (int off = 16; off > 0; off >>= 1)
        arg_better(v, j, __shfl_down_sync(FULL_MASK, v, off), __shfl_down_sync(FULL_MASK, j, off));
    if (lane == 0) {
        warp_v[warp] = v;
        warp_j[warp] = j;
    }
    __syncthreads();
    if (warp == 0) {
        v = lane < ACO_WARPS ? warp_v[lane] : NEG_INF;
        j = lane < ACO_WARPS ? warp_j[lane] : 0x7fffffff;
        for (int off = 16; off > 0; off >>= 1)
            arg_better(v, j, __shfl_down_sync(FULL_MASK, v, off), __shfl_down_sync(FULL_MASK, j, off));
        if (lane == 0) *out_j = j;
    }
}

// The last city (the one still unvisited) and the closed tour's length.
__device__ void finish_tour(int n, unsigned char *visited, int *tour, const int *__restrict__ D,
                            long long *length, long long *warp_sum) {
    for (int j = threadIdx.x; j < n; j += ACO_THREADS)
        if (!visited[j]) tour[n - 1] = j;
    __syncthreads();
    long long s = 0;
    for (int k = threadIdx.x; k < n; k += ACO_THREADS) {
        int a = tour[k], b = tour[k + 1 < n ? k + 1 : 0];
        s += (long long)D[(size_t)a * n + b];
    }
    for (int off = 16; off > 0; off >>= 1) s += __shfl_down_sync(FULL_MASK, s, off);
    if ((threadIdx.x & 31) == 0) warp_sum[threadIdx.x >> 5] = s;
    __syncthreads();
    if (threadIdx.x == 0) {
        long long total = 0;
        for (int w = 0; w < ACO_WARPS; ++w) total += warp_sum[w];
        *length = total;
    }
}

extern "C" __global__ void aco_construct_air(const float *__restrict__ P, const int *__restrict__ D, int n, int m,
                                             unsigned int seed, unsigned long long round_base,
                                             const float *__restrict__ U, int use_u, int *__restrict__ tours,
                                             long long *__restrict__ lengths) {
    extern __shared__ unsigned char visited[];
    __shared__ float warp_v[ACO_WARPS];
    __shared__ int warp_j[ACO_WARPS];
    __shared__ long long warp_sum[ACO_WARPS];
    __shared__ int chosen;
    const int ant = blockIdx.x;
    if (ant >= m) return;
    const unsigned int key = stream_key(seed, STREAM_AIR);
    const unsigned int elem0 = (unsigned int)ant * (unsigned int)n;
    int *tour = tours + (size_t)ant * n;
    for (int j = threadIdx.x; j < n; j += ACO_THREADS) visited[j] = 0;
    __syncthreads();
    int cur = 0;
    for (int r = 0; r < n - 1; ++r) {
        const unsigned int kc = round_key(key, round_base + (unsigned long long)r);
        const float *prow = P + (size_t)cur * n;
        float best = NEG_INF;
        int best_j = 0x7fffffff;
        for (int j = threadIdx.x; j < n; j += ACO_THREADS) {
            float s = NEG_INF;  // visited: can never win against an open city (scores >= 0)
            if (!visited[j]) {
                float u = use_u ? U[((size_t)r * m + ant) * n + j]
                                : (float)(mix32(mix32((elem0 + (unsigned int)j) ^ key) ^ kc) >> 8);  // exact
                s = (r == 0) ? u : __fmul_rn(u, prow[j]);  // round 0: the start city, argmax of U alone
            }
            arg_better(best, best_j, s, j);
        }
        block_argmax(best, best_j, warp_v, warp_j, &chosen);
        __syncthreads();
        cur = chosen;
        if (threadIdx.x == 0) {
            tour[r] = cur;
            visited[cur] = 1;
        }
        __syncthreads();
    }
    finish_tour(n, visited, tour, D, lengths + ant, warp_sum);
}

extern "C" __global__ void aco_construct_roulette(const long long *__restrict__ Q, const int *__restrict__ D, int n,
                                                  int m, unsigned int seed, unsigned long long round_base,
                                                  const double *__restrict__ R, int use_r, int *__restrict__ tours,
                                                  long long *__restrict__ lengths) {
    extern __shared__ unsigned char visited[];
    __shared__ long long warp_sum[ACO_WARPS];
    __shared__ int chosen;
    const int ant = blockIdx.x;
    if (ant >= m) return;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const unsigned int key = stream_key(seed, STREAM_ROULETTE);
    const unsigned int pre = mix32((unsigned int)ant ^ key);
    // Contiguous chunks so that a thread's prefix sums follow city order.
    const int chunk = (n + ACO_THREADS - 1) / ACO_THREADS;
    const int lo = min(n, threadIdx.x * chunk), hi = min(n, lo + chunk);
    int *tour = tours + (size_t)ant * n;
    for (int j = threadIdx.x; j < n; j += ACO_THREADS) visited[j] = 0;
    __syncthreads();
    int cur = 0;
    for (int r = 0; r < n - 1; ++r) {
        const double u = use_r ? R[(size_t)r * m + ant]
                               : (double)mix32(pre ^ round_key(key, round_base + (unsigned long long)r)) * 0x1p-32;
        if (r == 0) {
            if (threadIdx.x == 0) {
                double f = floor(u * (double)n);
                cur = f > (double)(n - 1) ? n - 1 : (int)f;
                chosen = cur;
                tour[0] = cur;
                visited[cur] = 1;
            }
            __syncthreads();
            cur = chosen;
            continue;
        }
        const long long *qrow = Q + (size_t)cur * n;
        long long s = 0;
        for (int j = lo; j < hi; ++j)
            if (!visited[j]) s += qrow[j];
        // Block-wide inclusive scan of the chunk sums: integers, so the order of additions is free.
        long long incl = s;
        for (int off = 1; off < 32; off <<= 1) {
            long long y = __shfl_up_sync(FULL_MASK, incl, off);
            if (lane >= off) incl += y;
        }
        if (lane == 31) warp_sum[warp] = incl;
        __syncthreads();
        if (warp == 0) {
            long long w = lane < ACO_WARPS ? warp_sum[lane] : 0;
            for (int off = 1; off < 32; off <<= 1) {
                long long y = __shfl_up_sync(FULL_MASK, w, off);
                if (lane >= off) w += y;
            }
            if (lane < ACO_WARPS) warp_sum[lane] = w;
        }
        __syncthreads();
        const long long total = warp_sum[ACO_WARPS - 1];
        long long acc = incl - s + (warp > 0 ? warp_sum[warp - 1] : 0);  // exclusive prefix of this chunk
        long long target = (long long)floor(u * (double)total);
        if (target > total - 1) target = total - 1;
        if (s > 0 && acc <= target && target < acc + s) {  // exactly one thread holds the crossing
            for (int j = lo; j < hi; ++j) {
                if (visited[j]) continue;
                acc += qrow[j];
                if (acc > target) {
                    chosen = j;
                    break;
                }
            }
        }
        __syncthreads();
        cur = chosen;
        if (threadIdx.x == 0) {
            tour[r] = cur;
            visited[cur] = 1;
        }
        __syncthreads();
    }
    finish_tour(n, visited, tour, D, lengths + ant, warp_sum);
}
