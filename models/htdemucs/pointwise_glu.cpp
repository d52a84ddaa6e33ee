#include "models/htdemucs/pointwise_glu.hpp"
#include "models/htdemucs/lane_mask.hpp"

// Eigen 3.3's AVX-512 packet code trips GCC 12's -Wmaybe-uninitialized inside the compiler's
// own intrinsics headers; the warning is about those headers, not this file.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <Eigen/Core>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include <algorithm>

namespace earshot::htdemucs {

#if defined(__AVX512F__)
namespace {

// Up to this many input channels (every encoder rewrite of the full model: K = 48..384) the
// fused kernel beat the GEMM path, measured at 1 thread: K = 48 17.5 -> 10.6 ms (tenc0),
// K = 96 12.7 -> 8.2 ms (tenc1), K = 192 / 384 about 25% faster. The input tile of the largest
// K (96 KiB) no longer fits L1 but streams from L2 once per output group.
constexpr int kMaxInputs = 384;

// Positions per tile: kVecs vectors of 16. The K x 64 input tile (12 KiB at K = 48) stays in
// cache while every output group sweeps it; 3 output pairs x 4 vectors = 24 accumulators.
constexpr int kVecs = 4;
constexpr std::int64_t kTile = 16 * kVecs;

// G output pairs (c, c + C) for c in [c0, c0 + G) over one tile: 2 G kVecs accumulators.
template <int G>
void glu_group(const float* in, std::int64_t plane, int K, int C, const float* w, const float* b,
               int c0, std::int64_t p, const __mmask16* m, float* out, std::int64_t out_plane) {
  using Eigen::internal::pexp;
  __m512 a[G][kVecs], g[G][kVecs];
#pragma GCC unroll 8
  for (int j = 0; j < G; ++j) {
    const __m512 ba = _mm512_set1_ps(b != nullptr ? b[c0 + j] : 0.0f);
    const __m512 bg = _mm512_set1_ps(b != nullptr ? b[c0 + j + C] : 0.0f);
#pragma GCC unroll 8
    for (int v = 0; v < kVecs; ++v) {
      a[j][v] = ba;
      g[j][v] = bg;
    }
  }
  const float* wa = w + static_cast<std::int64_t>(c0) * K;
  const float* wg = w + static_cast<std::int64_t>(c0 + C) * K;
  for (int k = 0; k < K; ++k) {
    __m512 x[kVecs];
#pragma GCC unroll 8
    for (int v = 0; v < kVecs; ++v) x[v] = _mm512_maskz_loadu_ps(m[v], in + k * plane + p + 16 * v);
#pragma GCC unroll 8
    for (int j = 0; j < G; ++j) {
      const __m512 va = _mm512_set1_ps(wa[j * K + k]), vg = _mm512_set1_ps(wg[j * K + k]);
#pragma GCC unroll 8
      for (int v = 0; v < kVecs; ++v) {
        a[j][v] = _mm512_fmadd_ps(va, x[v], a[j][v]);
        g[j][v] = _mm512_fmadd_ps(vg, x[v], g[j][v]);
      }
    }
  }
  const __m512 one = _mm512_set1_ps(1.0f);
#pragma GCC unroll 8
  for (int j = 0; j < G; ++j)
#pragma GCC unroll 8
    for (int v = 0; v < kVecs; ++v) {
      const __m512 q = _mm512_div_ps(
          a[j][v], _mm512_add_ps(one, pexp(_mm512_sub_ps(_mm512_setzero_ps(), g[j][v]))));
      _mm512_mask_storeu_ps(out + (c0 + j) * out_plane + p + 16 * v, m[v], q);
    }
}

}  // namespace

bool pointwise_glu_supported(int K) {
  return K >= 1 && K <= kMaxInputs;
}

void pointwise_glu(const float* in, std::int64_t plane, int K, int C, const float* w,
                   const float* b, std::int64_t p0, std::int64_t p1, float* out,
                   std::int64_t out_plane) {
  for (std::int64_t p = p0; p < p1; p += kTile) {
    __mmask16 m[kVecs];
#pragma GCC unroll 8
    for (int v = 0; v < kVecs; ++v) m[v] = lane_mask(p1 - p - 16 * v);
    int c = 0;
    for (; c + 3 <= C; c += 3) glu_group<3>(in, plane, K, C, w, b, c, p, m, out, out_plane);
    for (; c < C; ++c) glu_group<1>(in, plane, K, C, w, b, c, p, m, out, out_plane);
  }
}

#else  // no AVX-512: the GEMM path is used

bool pointwise_glu_supported(int) {
  return false;
}

void pointwise_glu(const float*, std::int64_t, int, int, const float*, const float*, std::int64_t,
                   std::int64_t, float*, std::int64_t) {}

#endif

}  // namespace earshot::htdemucs
