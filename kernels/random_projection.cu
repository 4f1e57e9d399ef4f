// random_projection.cu -- Y = scale * A R for a CSR matrix A (n_rows x n_features, float32) and an
// implicit random matrix R (n_features x k) that is never stored: entry R[j, c] is recomputed from a
// counter-based hash of (feature j, component c, seed), so GPU and CPU twin
// (kernels/random_projection_cpu.py) produce the same numbers from the same seed.
//
// Compile-time #defines:
//   RP_TILE   nonzeros of one row staged in shared memory at a time (default 256)
// Hash constants (RP_C_*) must equal the twin's; tests/affective_space/test_kernel_source.py checks it.
//
// Kernels (template argument DIST, instantiated through CuPy's name_expressions):
//   rp_csr<0>  sparse sign entries: +1 if h < half, -1 if half <= h < thresh, else 0
//              (Achlioptas 2003 with thresh = 2^32/3; Li, Hastie & Church 2006 "very sparse" with
//              thresh = 2^32/sqrt(n_features)); the caller folds sqrt(1/density)/sqrt(k) into scale.
//   rp_csr<1>  Gaussian entries by Box-Muller from two independent hash streams (key1, key2).
// Launch: grid (n_rows, ceil(k / blockDim.x)), one thread per (row, component); the block stages the
// row's nonzeros and their per-feature keys in shared memory so each key is hashed once per block.
// Accumulation runs over the row's nonzeros in CSR order; with binary A and sign entries every partial
// sum is an integer, so CPU and GPU agree bit for bit before the final scale.

#ifndef RP_TILE
#define RP_TILE 256
#endif

#define RP_C_FEAT 0x85EBCA77u
#define RP_C_COMP 0x27D4EB2Fu
#define RP_C_COMP_ADD 0x165667B1u
#define RP_INV_2_24 5.9604644775390625e-08f
#define RP_TWO_PI 6.2831855f

// MurmurHash3's 32-bit finalizer: a bijection with full avalanche, cheap on both GPU and numpy.
__device__ __forceinline__ unsigned int rp_fmix32(unsigned int h) {
    h ^= h >> 16;
    h *= 0x85EBCA6Bu;
    h ^= h >> 13;
    h *= 0xC2B2AE35u;
    h ^= h >> 16;
    return h;
}

template <int DIST>
__global__ void rp_csr(const int* __restrict__ indptr, const int* __restrict__ indices,
                       const float* __restrict__ data, int n_rows, int k, unsigned int key1,
                       unsigned int key2, unsigned int thresh, unsigned int half, float scale,
                       float* __restrict__ out) {
    __shared__ unsigned int s_key1[RP_TILE];
    __shared__ unsigned int s_key2[RP_TILE];
    __shared__ float s_val[RP_TILE];

    const int row = blockIdx.x;
    const int c = blockIdx.y * blockDim.x + threadIdx.x;
    if (row >= n_rows) return;  // whole block leaves together, so the barriers below stay uniform
    const unsigned int cterm = (unsigned int)c * RP_C_COMP + RP_C_COMP_ADD;
    const int p0 = indptr[row];
    const int p1 = indptr[row + 1];
    float acc = 0.0f;

    for (int t0 = p0; t0 < p1; t0 += RP_TILE) {
        const int nt = min(RP_TILE, p1 - t0);
        for (int t = threadIdx.x; t < nt; t += blockDim.x) {
            const unsigned int jm = (unsigned int)indices[t0 + t] * RP_C_FEAT;
            s_key1[t] = rp_fmix32(jm ^ key1);
            if (DIST == 1) s_key2[t] = rp_fmix32(jm ^ key2);
            s_val[t] = data[t0 + t];
        }
        __syncthreads();
        if (c < k) {
            for (int t = 0; t < nt; ++t) {
                const unsigned int h = rp_fmix32(s_key1[t] ^ cterm);
                float r;
                if (DIST == 0) {
                    r = (h < half) ? 1.0f : ((h < thresh) ? -1.0f : 0.0f);
                } else {
                    const unsigned int h2 = rp_fmix32(s_key2[t] ^ cterm);
                    // top 24 bits -> exact float32 uniforms; u1 in (0, 1) keeps the log finite
                    const float u1 = ((float)(h >> 8) + 0.5f) * RP_INV_2_24;
                    const float u2 = (float)(h2 >> 8) * RP_INV_2_24;
                    r = sqrtf(-2.0f * logf(u1)) * cosf(RP_TWO_PI * u2);
                }
                acc = __fadd_rn(acc, __fmul_rn(s_val[t], r));  // no FMA contraction: the twin rounds twice
            }
        }
        __syncthreads();
    }
    if (c < k) out[(size_t)row * (size_t)k + (size_t)c] = acc * scale;
}
