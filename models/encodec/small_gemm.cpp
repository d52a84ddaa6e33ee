#include "models/encodec/small_gemm.hpp"

// GCC 12 reports false (maybe-)uninitialized warnings inside its own _mm512_reduce_add_ps (an
// undefined pass-through operand in the intrinsic header), not in this code.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include "models/core/half.hpp"

#include <algorithm>

#ifdef __AVX512F__
#include <immintrin.h>
#endif

namespace earshot::encodec {
namespace {

#ifdef __AVX512F__

// Software prefetch distance. The weight streams are many short runs (a row of 2 KB, or a
// column block of each row), which the hardware prefetchers do not get ahead of: fetch the
// weights this many row groups / row blocks ahead.
constexpr int kAheadGroups = 2;
constexpr int kAheadBlocks = 2;
// Up to this many X rows the [N,K] kernel walks B one row at a time (nk_sequential): measured
// on 32 MB of weights on 2 MiB pages, 2x the interleaved rows' speed at M = 1 and 2.
constexpr int kSequentialRowsUpTo = 4;

__mmask16 tail_mask(std::int64_t n) {
  return static_cast<__mmask16>((1u << n) - 1u);
}

// 16 weights as floats: stored as float, or as IEEE half (the decoder's opt-in F16 storage,
// converted on load; the products stay in float).
inline __m512 load_w(const float* p) {
  return _mm512_loadu_ps(p);
}
inline __m512 load_w(const std::uint16_t* p) {
  return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}
inline __m512 load_w(__mmask16 mask, const float* p) {
  return _mm512_maskz_loadu_ps(mask, p);
}
inline __m512 load_w(__mmask16 mask, const std::uint16_t* p) {
  return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(mask, p));
}

// [K,N] layout, M rows, columns [n0, n1): U weight rows at a time are streamed through the
// columns while Y's block stays in L1; each Y element gets the U products in k order.
template <int M, int U>
void kn_block(std::int64_t K, const float* X, std::int64_t ldx, const float* B, std::int64_t ldb,
              float* Y, std::int64_t ldy, std::int64_t n0, std::int64_t n1) {
  const std::int64_t full_end = n0 + (n1 - n0) / 16 * 16;
  const __mmask16 mask = tail_mask(n1 - full_end);
  std::int64_t k = 0;
  for (; k + U <= K; k += U) {
    __m512 xs[M][U];
    for (int m = 0; m < M; ++m) {
      for (int u = 0; u < U; ++u) xs[m][u] = _mm512_set1_ps(X[m * ldx + k + u]);
    }
    const float* b = B + k * ldb;
    std::int64_t j = n0;
    const bool ahead = k + (kAheadGroups + 1) * U <= K;
    for (; j < full_end; j += 16) {
      __m512 v[U];
      for (int u = 0; u < U; ++u) v[u] = _mm512_loadu_ps(b + u * ldb + j);
      if (ahead) {
        for (int u = 0; u < U; ++u) {
          _mm_prefetch(reinterpret_cast<const char*>(b + (kAheadGroups * U + u) * ldb + j),
                       _MM_HINT_T0);
        }
      }
      for (int m = 0; m < M; ++m) {
        float* y = Y + m * ldy + j;
        __m512 acc = _mm512_loadu_ps(y);
        for (int u = 0; u < U; ++u) acc = _mm512_fmadd_ps(xs[m][u], v[u], acc);
        _mm512_storeu_ps(y, acc);
      }
    }
    if (j < n1) {
      __m512 v[U];
      for (int u = 0; u < U; ++u) v[u] = _mm512_maskz_loadu_ps(mask, b + u * ldb + j);
      for (int m = 0; m < M; ++m) {
        float* y = Y + m * ldy + j;
        __m512 acc = _mm512_maskz_loadu_ps(mask, y);
        for (int u = 0; u < U; ++u) acc = _mm512_fmadd_ps(xs[m][u], v[u], acc);
        _mm512_mask_storeu_ps(y, mask, acc);
      }
    }
  }
  if (k < K) kn_block<M, 1>(K - k, X + k, ldx, B + k * ldb, ldb, Y, ldy, n0, n1);
}

template <int M>
void kn(std::int64_t K, const float* X, std::int64_t ldx, const float* B, std::int64_t ldb,
        float* Y, std::int64_t ldy, std::int64_t n_begin, std::int64_t n_end) {
  // Column blocks whose M rows of Y fill at most 16 KiB of L1.
  const std::int64_t block = std::max<std::int64_t>(64, 4096 / M / 16 * 16);
  constexpr int U = M <= 4 ? 4 : 2;
  for (std::int64_t n0 = n_begin; n0 < n_end; n0 += block) {
    kn_block<M, U>(K, X, ldx, B, ldb, Y, ldy, n0, std::min(n_end, n0 + block));
  }
}

// [N,K] layout: R weight rows at a time, each against the M rows of X, 16 lanes of partial
// sums per output, reduced at the end.
template <int M, int R, typename W>
void nk_rows(std::int64_t K, const float* X, std::int64_t ldx, const W* B, std::int64_t ldb,
             float* Y, std::int64_t ldy, bool accumulate, std::int64_t n, bool prefetch) {
  __m512 acc[R][M];
  for (int r = 0; r < R; ++r) {
    for (int m = 0; m < M; ++m) acc[r][m] = _mm512_setzero_ps();
  }
  const std::int64_t full_end = K / 16 * 16;
  const W* ahead = B + (n + kAheadBlocks * R) * ldb;
  for (std::int64_t k = 0; k < full_end; k += 16) {
    __m512 x[M];
    for (int m = 0; m < M; ++m) x[m] = _mm512_loadu_ps(X + m * ldx + k);
    if (prefetch) {
      for (int r = 0; r < R; ++r) {
        _mm_prefetch(reinterpret_cast<const char*>(ahead + r * ldb + k), _MM_HINT_T0);
      }
    }
    for (int r = 0; r < R; ++r) {
      const __m512 b = load_w(B + (n + r) * ldb + k);
      for (int m = 0; m < M; ++m) acc[r][m] = _mm512_fmadd_ps(b, x[m], acc[r][m]);
    }
  }
  if (full_end < K) {
    const __mmask16 mask = tail_mask(K - full_end);
    __m512 x[M];
    for (int m = 0; m < M; ++m) x[m] = _mm512_maskz_loadu_ps(mask, X + m * ldx + full_end);
    for (int r = 0; r < R; ++r) {
      const __m512 b = load_w(mask, B + (n + r) * ldb + full_end);
      for (int m = 0; m < M; ++m) acc[r][m] = _mm512_fmadd_ps(b, x[m], acc[r][m]);
    }
  }
  for (int r = 0; r < R; ++r) {
    for (int m = 0; m < M; ++m) {
      const float s = _mm512_reduce_add_ps(acc[r][m]);
      float& y = Y[m * ldy + n + r];
      y = accumulate ? y + s : s;
    }
  }
}

// One weight row at a time, 4 partial sums per X row (64 floats per step): a single sequential
// stream through B, which the hardware prefetcher follows (interleaving several rows' short
// 2 KB runs left it behind: ~15 GB/s where a plain read reaches 30).
template <int M, typename W>
void nk_sequential(std::int64_t K, const float* X, std::int64_t ldx, const W* B, std::int64_t ldb,
                   float* Y, std::int64_t ldy, bool accumulate, std::int64_t n) {
  // P partial sums per X row (at most 16 accumulators): enough independent chains to hide the
  // FMA latency.
  constexpr int P = M <= 4 ? 4 : 2;
  __m512 acc[P][M];
  for (int u = 0; u < P; ++u) {
    for (int m = 0; m < M; ++m) acc[u][m] = _mm512_setzero_ps();
  }
  const W* b = B + n * ldb;
  std::int64_t k = 0;
  for (; k + 16 * P <= K; k += 16 * P) {
    for (int u = 0; u < P; ++u) {
      const __m512 w = load_w(b + k + 16 * u);
      for (int m = 0; m < M; ++m) {
        acc[u][m] = _mm512_fmadd_ps(w, _mm512_loadu_ps(X + m * ldx + k + 16 * u), acc[u][m]);
      }
    }
  }
  for (; k < K; k += 16) {
    const __mmask16 mask = tail_mask(std::min<std::int64_t>(16, K - k));
    const __m512 w = load_w(mask, b + k);
    for (int m = 0; m < M; ++m) {
      acc[0][m] = _mm512_fmadd_ps(w, _mm512_maskz_loadu_ps(mask, X + m * ldx + k), acc[0][m]);
    }
  }
  for (int m = 0; m < M; ++m) {
    __m512 sum = acc[0][m];
    for (int u = 1; u < P; ++u) sum = _mm512_add_ps(sum, acc[u][m]);
    const float s = _mm512_reduce_add_ps(sum);
    float& y = Y[m * ldy + n];
    y = accumulate ? y + s : s;
  }
}

template <int M, typename W>
void nk(std::int64_t K, const float* X, std::int64_t ldx, const W* B, std::int64_t ldb, float* Y,
        std::int64_t ldy, bool accumulate, std::int64_t n_begin, std::int64_t n_end) {
  if constexpr (M <= kSequentialRowsUpTo) {
    for (std::int64_t n = n_begin; n < n_end; ++n) {
      nk_sequential<M, W>(K, X, ldx, B, ldb, Y, ldy, accumulate, n);
    }
    return;
  }
  constexpr int R = M <= 2 ? 8 : (M <= 4 ? 4 : 2);
  std::int64_t n = n_begin;
  for (; n + R <= n_end; n += R) {
    const bool prefetch = n + (kAheadBlocks + 1) * R <= n_end;
    nk_rows<M, R, W>(K, X, ldx, B, ldb, Y, ldy, accumulate, n, prefetch);
  }
  for (; n < n_end; ++n) nk_rows<M, 1, W>(K, X, ldx, B, ldb, Y, ldy, accumulate, n, false);
}

#else  // portable fallback: the same summation orders, scalar

template <int M>
void kn(std::int64_t K, const float* X, std::int64_t ldx, const float* B, std::int64_t ldb,
        float* Y, std::int64_t ldy, std::int64_t n_begin, std::int64_t n_end) {
  for (std::int64_t k = 0; k < K; ++k) {
    for (int m = 0; m < M; ++m) {
      const float x = X[m * ldx + k];
      for (std::int64_t j = n_begin; j < n_end; ++j) Y[m * ldy + j] += x * B[k * ldb + j];
    }
  }
}

inline float weight_value(float w) {
  return w;
}
inline float weight_value(std::uint16_t w) {
  return models::f16_to_f32(w);
}

template <int M, typename W>
void nk(std::int64_t K, const float* X, std::int64_t ldx, const W* B, std::int64_t ldb, float* Y,
        std::int64_t ldy, bool accumulate, std::int64_t n_begin, std::int64_t n_end) {
  for (std::int64_t n = n_begin; n < n_end; ++n) {
    for (int m = 0; m < M; ++m) {
      float s = 0;
      for (std::int64_t k = 0; k < K; ++k) s += weight_value(B[n * ldb + k]) * X[m * ldx + k];
      float& y = Y[m * ldy + n];
      y = accumulate ? y + s : s;
    }
  }
}

#endif

template <typename F>
void dispatch(std::int64_t M, F&& f) {
  switch (M) {
    case 1:
      f.template operator()<1>();
      break;
    case 2:
      f.template operator()<2>();
      break;
    case 3:
      f.template operator()<3>();
      break;
    case 4:
      f.template operator()<4>();
      break;
    case 5:
      f.template operator()<5>();
      break;
    case 6:
      f.template operator()<6>();
      break;
    case 7:
      f.template operator()<7>();
      break;
    case 8:
      f.template operator()<8>();
      break;
    default:
      break;
  }
}

}  // namespace

void small_gemm_kn(std::int64_t M, std::int64_t N, std::int64_t K, const float* X, std::int64_t ldx,
                   const float* B, std::int64_t ldb, float* Y, std::int64_t ldy, bool accumulate,
                   std::int64_t n_begin, std::int64_t n_end) {
  (void)N;
  if (M <= 0 || n_end <= n_begin) return;
  if (!accumulate) {
    for (std::int64_t m = 0; m < M; ++m)
      std::fill(Y + m * ldy + n_begin, Y + m * ldy + n_end, 0.0f);
  }
  if (K <= 0) return;
  dispatch(M, [&]<int kM>() { kn<kM>(K, X, ldx, B, ldb, Y, ldy, n_begin, n_end); });
}

void small_gemm_nk(std::int64_t M, std::int64_t K, const float* X, std::int64_t ldx, const float* B,
                   std::int64_t ldb, float* Y, std::int64_t ldy, bool accumulate,
                   std::int64_t n_begin, std::int64_t n_end) {
  if (M <= 0 || n_end <= n_begin) return;
  dispatch(M, [&]<int kM>() { nk<kM>(K, X, ldx, B, ldb, Y, ldy, accumulate, n_begin, n_end); });
}

void small_gemm_nk(std::int64_t M, std::int64_t K, const float* X, std::int64_t ldx,
                   const std::uint16_t* B, std::int64_t ldb, float* Y, std::int64_t ldy,
                   bool accumulate, std::int64_t n_begin, std::int64_t n_end) {
  if (M <= 0 || n_end <= n_begin) return;
  dispatch(M, [&]<int kM>() { nk<kM>(K, X, ldx, B, ldb, Y, ldy, accumulate, n_begin, n_end); });
}

}  // namespace earshot::encodec
