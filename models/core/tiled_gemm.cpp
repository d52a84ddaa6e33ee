#include "models/core/tiled_gemm.hpp"

#include <algorithm>
#include <cmath>

#ifdef __AVX512F__
#include <immintrin.h>
#endif

namespace earshot::models {
namespace {

#ifdef __AVX512F__

// One tile: R rows x V vectors of 16 columns, the last vector masked by `last` (partial at the
// right edge of Y). R x V <= 24 accumulators leave room for the V weight vectors and a broadcast.
// Weight rows fetched ahead by the first row tile of a column block: that tile reads the block's
// weights from L3 or memory (the decoder streams 27 MB of other weights between two uses), in
// short runs of 16 V floats one weight row apart, which the hardware prefetchers do not follow.
// The later tiles find them in L1/L2.
constexpr int kAheadRows = 16;

template <int R, int V, bool kPrefetch = false>
void tile(std::int64_t K, const float* X, std::int64_t ldx, const float* W, std::int64_t ldw,
          const float* bias, float* Y, std::int64_t ldy, bool accumulate, __mmask16 last) {
  static_assert(R * V <= 24);
  // Every loop over r and v is unrolled completely (the pragmas): GCC otherwise keeps the
  // accumulator array in memory and stores it back at every k.
  __m512 acc[R][V];
#pragma GCC unroll 4
  for (int v = 0; v < V; ++v) {
    const __mmask16 mask = v == V - 1 ? last : static_cast<__mmask16>(0xffff);
    const __m512 b =
        bias != nullptr ? _mm512_maskz_loadu_ps(mask, bias + 16 * v) : _mm512_setzero_ps();
#pragma GCC unroll 24
    for (int r = 0; r < R; ++r) {
      acc[r][v] =
          accumulate ? _mm512_add_ps(_mm512_maskz_loadu_ps(mask, Y + r * ldy + 16 * v), b) : b;
    }
  }
  for (std::int64_t k = 0; k < K; ++k) {
    const float* w = W + k * ldw;
    if constexpr (kPrefetch) {
#pragma GCC unroll 4
      for (int v = 0; v < V; ++v) {
        _mm_prefetch(reinterpret_cast<const char*>(w + kAheadRows * ldw + 16 * v), _MM_HINT_T0);
      }
    }
    __m512 wv[V];
#pragma GCC unroll 4
    for (int v = 0; v < V - 1; ++v) wv[v] = _mm512_loadu_ps(w + 16 * v);
    wv[V - 1] = _mm512_maskz_loadu_ps(last, w + 16 * (V - 1));
#pragma GCC unroll 24
    for (int r = 0; r < R; ++r) {
      const __m512 x = _mm512_set1_ps(X[r * ldx + k]);
#pragma GCC unroll 4
      for (int v = 0; v < V; ++v) acc[r][v] = _mm512_fmadd_ps(x, wv[v], acc[r][v]);
    }
  }
#pragma GCC unroll 24
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 4
    for (int v = 0; v < V - 1; ++v) _mm512_storeu_ps(Y + r * ldy + 16 * v, acc[r][v]);
    _mm512_mask_storeu_ps(Y + r * ldy + 16 * (V - 1), last, acc[r][V - 1]);
  }
}

// Rows per tile for V vectors: as many as the 24 accumulators allow.
template <int V>
constexpr int rows_for() {
  return V >= 4 ? 6 : (V == 3 ? 8 : (V == 2 ? 12 : 24));
}

// All M rows of one column block of V vectors: full tiles, then the leftover rows in tiles of
// 8, 4, 2, 1 (never more than rows_for<V>()).
template <int V>
void column_block(std::int64_t M, std::int64_t K, const float* X, std::int64_t ldx, const float* W,
                  std::int64_t ldw, const float* bias, float* Y, std::int64_t ldy, bool accumulate,
                  __mmask16 last) {
  constexpr int kR = rows_for<V>();
  std::int64_t m = 0;
  if (M >= kR) {
    tile<kR, V, true>(K, X, ldx, W, ldw, bias, Y, ldy, accumulate, last);
    m = kR;
  }
  for (; m + kR <= M; m += kR) {
    tile<kR, V>(K, X + m * ldx, ldx, W, ldw, bias, Y + m * ldy, ldy, accumulate, last);
  }
  while (m < M) {
    const std::int64_t rest = M - m;
    const float* x = X + m * ldx;
    float* y = Y + m * ldy;
    if constexpr (kR > 8) {
      if (rest >= 8) {
        tile<8, V>(K, x, ldx, W, ldw, bias, y, ldy, accumulate, last);
        m += 8;
        continue;
      }
    }
    if (rest >= 4) {
      tile<4, V>(K, x, ldx, W, ldw, bias, y, ldy, accumulate, last);
      m += 4;
    } else if (rest >= 2) {
      tile<2, V>(K, x, ldx, W, ldw, bias, y, ldy, accumulate, last);
      m += 2;
    } else {
      tile<1, V>(K, x, ldx, W, ldw, bias, y, ldy, accumulate, last);
      m += 1;
    }
  }
}

// Rows per block: the block's X slice (rows x K floats) stays in L2 (256 KiB of it) while every
// panel sweeps it, instead of all of X streaming from L3 or memory once per panel. A multiple of
// 24 (every tile height divides it), so blocks end on whole tiles.
std::int64_t row_block(std::int64_t K) {
  constexpr std::int64_t kL2Floats = 1 << 16;
  return std::max<std::int64_t>(24, kL2Floats / std::max<std::int64_t>(K, 1) / 24 * 24);
}

// Columns [n_begin, n_end) (n_begin on a panel boundary) of a packed W, for M rows that form one
// row block.
void block_columns(std::int64_t M, std::int64_t n_begin, std::int64_t n_end, std::int64_t K,
                   const float* X, std::int64_t ldx, const float* W, const float* bias, float* Y,
                   std::int64_t ldy, bool accumulate) {
  for (std::int64_t n0 = n_begin; n0 < n_end; n0 += kTiledPanel) {
    const std::int64_t cols = std::min<std::int64_t>(kTiledPanel, n_end - n0);
    const int v = static_cast<int>((cols + 15) / 16);
    const int tail = static_cast<int>(cols - 16 * (v - 1));
    const auto last = static_cast<__mmask16>(tail == 16 ? 0xffffu : (1u << tail) - 1u);
    const float* b = bias != nullptr ? bias + n0 : nullptr;
    const float* panel = W + n0 * K;  // the panels before hold n0 columns of K rows
    switch (v) {
      case 1:
        column_block<1>(M, K, X, ldx, panel, cols, b, Y + n0, ldy, accumulate, last);
        break;
      case 2:
        column_block<2>(M, K, X, ldx, panel, cols, b, Y + n0, ldy, accumulate, last);
        break;
      default:
        column_block<3>(M, K, X, ldx, panel, cols, b, Y + n0, ldy, accumulate, last);
        break;
    }
  }
}

void columns(std::int64_t M, std::int64_t n_begin, std::int64_t n_end, std::int64_t K,
             const float* X, std::int64_t ldx, const float* W, const float* bias, float* Y,
             std::int64_t ldy, bool accumulate) {
  const std::int64_t block = row_block(K);
  for (std::int64_t m0 = 0; m0 < M; m0 += block)
    block_columns(std::min(block, M - m0), n_begin, n_end, K, X + m0 * ldx, ldx, W, bias,
                  Y + m0 * ldy, ldy, accumulate);
}

#else  // portable: the same order per output (fused multiply-adds, k ascending)

void columns(std::int64_t M, std::int64_t n_begin, std::int64_t n_end, std::int64_t K,
             const float* X, std::int64_t ldx, const float* W, const float* bias, float* Y,
             std::int64_t ldy, bool accumulate) {
  for (std::int64_t m = 0; m < M; ++m) {
    for (std::int64_t n = n_begin; n < n_end; ++n) {
      const std::int64_t n0 = n / kTiledPanel * kTiledPanel;
      const std::int64_t width = std::min(kTiledPanel, n_end - n0);
      const float* panel = W + n0 * K;
      float acc = (accumulate ? Y[m * ldy + n] : 0.0f) + (bias != nullptr ? bias[n] : 0.0f);
      for (std::int64_t k = 0; k < K; ++k) {
        acc = std::fma(X[m * ldx + k], panel[k * width + n - n0], acc);
      }
      Y[m * ldy + n] = acc;
    }
  }
}

#endif

}  // namespace

void pack_tiled_weights(std::int64_t K, std::int64_t N, const float* W, std::int64_t ldw,
                        float* packed) {
  for (std::int64_t n0 = 0; n0 < N; n0 += kTiledPanel) {
    const std::int64_t width = std::min(kTiledPanel, N - n0);
    float* panel = packed + n0 * K;
    for (std::int64_t k = 0; k < K; ++k) {
      std::copy(W + k * ldw + n0, W + k * ldw + n0 + width, panel + k * width);
    }
  }
}

void pack_tiled_weights_transposed(std::int64_t K, std::int64_t N, const float* W_T,
                                   std::int64_t ldw, float* packed) {
  for (std::int64_t n0 = 0; n0 < N; n0 += kTiledPanel) {
    const std::int64_t width = std::min(kTiledPanel, N - n0);
    float* panel = packed + n0 * K;
    for (std::int64_t k = 0; k < K; ++k)
      for (std::int64_t j = 0; j < width; ++j) panel[k * width + j] = W_T[(n0 + j) * ldw + k];
  }
}

void tiled_gemm(std::int64_t M, std::int64_t N, std::int64_t K, const float* X, std::int64_t ldx,
                const float* packed, const float* bias, float* Y, std::int64_t ldy, bool accumulate,
                rt::Parallel* parallel) {
  if (M <= 0 || N <= 0) return;
  // Below ~1 MFLOP a wake-up of the team costs more than it saves.
  constexpr std::int64_t kMinParallelWork = 1 << 19;
  if (rt::parallel_size(parallel) <= 1 || M * N * K < kMinParallelWork || M > INT32_MAX ||
      N > INT32_MAX) {
    columns(M, 0, N, K, X, ldx, packed, bias, Y, ldy, accumulate);
    return;
  }
  if (M >= 96) {
    rt::parallel_for(parallel, static_cast<int>(M), 24, [&](int begin, int end, int) {
      columns(end - begin, 0, N, K, X + begin * ldx, ldx, packed, bias, Y + begin * ldy, ldy,
              accumulate);
    });
    return;
  }
  // Whole panels per worker.
  rt::parallel_for(parallel, static_cast<int>(N), static_cast<int>(kTiledPanel),
                   [&](int begin, int end, int) {
                     columns(M, begin, end, K, X, ldx, packed, bias, Y, ldy, accumulate);
                   });
}

}  // namespace earshot::models
