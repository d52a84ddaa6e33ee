// GCC 12 reports false -Wmaybe-uninitialized warnings inside its AVX-512 intrinsics headers.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include "models/whisper/gemv.hpp"

#include "models/core/half.hpp"

#include <cstddef>
#include <cstdint>
#ifdef __AVX512F__
#include <immintrin.h>
#endif

namespace earshot::models::whisper {
namespace {

inline float load_weight(const std::uint16_t* w, std::size_t i) {
  return f16_to_f32(w[i]);
}
inline float load_weight(const float* w, std::size_t i) {
  return w[i];
}

#ifdef __AVX512F__
inline __m512 load16(const std::uint16_t* w) {
  return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(w)));
}
inline __m512 load16(const float* w) {
  return _mm512_loadu_ps(w);
}

// The NR rows of a block are read side by side (column by column): NR short streams that the
// hardware prefetcher does not follow well, so the kernel prefetches the stream itself, at
// least kPrefetchBytes (or one block) ahead, spread evenly over the column steps. Into L2
// (T1): measured on Zen 4, L1 prefetches of 8 rows at once stall on the L1 miss buffers
// (single-core F16 stream ~11 GB/s) where L2 prefetches reach the probe's ~25 GB/s.
constexpr std::size_t kPrefetchBytes = 16384;

// Sums of NT x NR dot products over the first `body` columns (a multiple of 16) of the NR
// consecutive weight rows at w0: NT*NR independent accumulators keep the FMA latency hidden.
template <int NT, int NR, typename W>
inline void block_sums(const float* x, int cols, int body, const W* w0, float* sums) {
  __m512 acc[NT][NR];
  for (int t = 0; t < NT; ++t)
    for (int r = 0; r < NR; ++r) acc[t][r] = _mm512_setzero_ps();
  // Step k prefetches bytes [k*kStepBytes, (k+1)*kStepBytes) of the block-sized range
  // `distance` ahead, so one block's steps cover one block of the stream.
  const std::size_t block_bytes = static_cast<std::size_t>(NR) * cols * sizeof(W);
  const char* ahead = reinterpret_cast<const char*>(w0) +
                      (block_bytes > kPrefetchBytes ? block_bytes : kPrefetchBytes);
  constexpr int kStepBytes = NR * 16 * static_cast<int>(sizeof(W));
  for (int c = 0; c < body; c += 16) {
    const char* pf = ahead + static_cast<std::size_t>(c / 16) * kStepBytes;
    for (int line = 0; line < kStepBytes; line += 64) _mm_prefetch(pf + line, _MM_HINT_T1);
    __m512 wv[NR];
    for (int r = 0; r < NR; ++r) wv[r] = load16(w0 + static_cast<std::size_t>(r) * cols + c);
    for (int t = 0; t < NT; ++t) {
      const __m512 xv = _mm512_loadu_ps(x + static_cast<std::size_t>(t) * cols + c);
      for (int r = 0; r < NR; ++r) acc[t][r] = _mm512_fmadd_ps(wv[r], xv, acc[t][r]);
    }
  }
  for (int t = 0; t < NT; ++t)
    for (int r = 0; r < NR; ++r) sums[t * NR + r] = _mm512_reduce_add_ps(acc[t][r]);
}
#endif

// Rows [j0, j1) for NT input rows.
template <int NT, typename W>
void rows_kernel(const float* x, const W* wd, int cols, int j0, int j1, const float* bias, float* y,
                 int ldy, bool accumulate) {
  auto store = [&](int t, int j, float v) {
    if (bias) v += bias[j];
    float& dst = y[static_cast<std::size_t>(t) * ldy + (j - j0)];
    dst = accumulate ? dst + v : v;
  };
  int j = j0;
#ifdef __AVX512F__
  // F16 rows are half the bytes, so more of them keep the same number of loads in flight.
  constexpr int NR = (sizeof(W) == 2 && NT <= 2) ? 8 : 4;
  const int body = cols / 16 * 16;
  for (; j + NR <= j1; j += NR) {
    const W* w0 = wd + static_cast<std::size_t>(j) * cols;
    float sums[NT * NR];
    block_sums<NT, NR>(x, cols, body, w0, sums);
    for (int r = 0; r < NR; ++r) {
      const W* row = w0 + static_cast<std::size_t>(r) * cols;
      for (int c = body; c < cols; ++c) {
        const float wv = load_weight(row, static_cast<std::size_t>(c));
        for (int t = 0; t < NT; ++t)
          sums[t * NR + r] += wv * x[static_cast<std::size_t>(t) * cols + c];
      }
      for (int t = 0; t < NT; ++t) store(t, j + r, sums[t * NR + r]);
    }
  }
#endif
  for (; j < j1; ++j) {
    const W* row = wd + static_cast<std::size_t>(j) * cols;
    float acc[NT] = {};
    for (int c = 0; c < cols; ++c) {
      const float wv = load_weight(row, static_cast<std::size_t>(c));
      for (int t = 0; t < NT; ++t) acc[t] += wv * x[static_cast<std::size_t>(t) * cols + c];
    }
    for (int t = 0; t < NT; ++t) store(t, j, acc[t]);
  }
}

template <typename W>
void rows_any(const float* x, int n, const W* wd, int cols, int j0, int j1, const float* bias,
              float* y, int ldy, bool accumulate) {
  int t = 0;
  const std::size_t xs = static_cast<std::size_t>(cols), ys = static_cast<std::size_t>(ldy);
  for (; t + 4 <= n; t += 4)
    rows_kernel<4>(x + t * xs, wd, cols, j0, j1, bias, y + t * ys, ldy, accumulate);
  for (; t + 2 <= n; t += 2)
    rows_kernel<2>(x + t * xs, wd, cols, j0, j1, bias, y + t * ys, ldy, accumulate);
  for (; t < n; ++t)
    rows_kernel<1>(x + t * xs, wd, cols, j0, j1, bias, y + t * ys, ldy, accumulate);
}

}  // namespace

void gemv_rows(const float* x, int n, const WeightMatrix& w, int j0, int j1, const float* bias,
               float* y, int ldy, bool accumulate) {
  if (w.type == WeightType::F16)
    rows_any(x, n, w.f16(), w.cols, j0, j1, bias, y, ldy, accumulate);
  else
    rows_any(x, n, w.f32(), w.cols, j0, j1, bias, y, ldy, accumulate);
}

}  // namespace earshot::models::whisper
