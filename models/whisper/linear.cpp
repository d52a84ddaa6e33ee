// GCC 12 reports false -Wmaybe-uninitialized warnings inside Eigen's AVX-512 packet code.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include "models/whisper/linear.hpp"

#include "models/core/half.hpp"

#include <Eigen/Core>
#include <algorithm>
#include <cstring>
#if defined(__F16C__) && defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define EARSHOT_WHISPER_F16C 1
#endif

namespace earshot::models::whisper {
namespace {

using RowMat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using ConstRowMap = Eigen::Map<const RowMat>;
using RowMap = Eigen::Map<RowMat>;

void convert_f16(const std::uint16_t* src, std::size_t count, float* dst) {
  std::size_t i = 0;
#ifdef EARSHOT_WHISPER_F16C
  for (; i + 8 <= count; i += 8) {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i));
    _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(h));
  }
#endif
  for (; i < count; ++i) dst[i] = f16_to_f32(src[i]);
}

#ifdef __AVX512F__
// Sum of one accumulator's lanes.
inline float lane_sum(__m512 v) {
  return _mm512_reduce_add_ps(v);
}

// y[t, j] = dot(x[t, :], w[j, :]) for NT input rows and the NR weight rows j .. j+NR-1, over
// the first `body` columns (a multiple of 16). NT x NR independent accumulators keep enough
// FMAs in flight that the loop runs at memory speed (one accumulator would stall on the FMA
// latency and read the weights at a fraction of the bandwidth).
template <int NT, int NR>
void f16_block_avx512(const float* x, int cols, int body, const std::uint16_t* w0, float* sums) {
  __m512 acc[NT][NR];
  for (int t = 0; t < NT; ++t)
    for (int r = 0; r < NR; ++r) acc[t][r] = _mm512_setzero_ps();
  for (int c = 0; c < body; c += 16) {
    __m512 wv[NR];
    for (int r = 0; r < NR; ++r)
      wv[r] = _mm512_cvtph_ps(_mm256_loadu_si256(
          reinterpret_cast<const __m256i*>(w0 + static_cast<std::size_t>(r) * cols + c)));
    for (int t = 0; t < NT; ++t) {
      const __m512 xv = _mm512_loadu_ps(x + static_cast<std::size_t>(t) * cols + c);
      for (int r = 0; r < NR; ++r) acc[t][r] = _mm512_fmadd_ps(wv[r], xv, acc[t][r]);
    }
  }
  for (int t = 0; t < NT; ++t)
    for (int r = 0; r < NR; ++r) sums[t * NR + r] = lane_sum(acc[t][r]);
}
#endif

// y[t, j] = dot(x[t, :], w[j, :]) for NT input rows and weight rows [j0, j1), reading each
// F16 weight row once.
template <int NT>
void f16_rows_kernel(const float* x, const WeightMatrix& w, int j0, int j1, float* y) {
  const int cols = w.cols;
  const std::uint16_t* wd = w.f16();
  int j = j0;
#ifdef __AVX512F__
  // Four weight rows at a time; the column tail (cols % 16) is finished in scalar code.
  constexpr int NR = 4;
  const int body = cols / 16 * 16;
  for (; j + NR <= j1; j += NR) {
    const std::uint16_t* w0 = wd + static_cast<std::size_t>(j) * cols;
    float sums[NT * NR];
    f16_block_avx512<NT, NR>(x, cols, body, w0, sums);
    for (int r = 0; r < NR; ++r) {
      const std::uint16_t* row = w0 + static_cast<std::size_t>(r) * cols;
      for (int c = body; c < cols; ++c) {
        const float wv = f16_to_f32(row[c]);
        for (int t = 0; t < NT; ++t)
          sums[t * NR + r] += wv * x[static_cast<std::size_t>(t) * cols + c];
      }
      for (int t = 0; t < NT; ++t)
        y[static_cast<std::size_t>(t) * w.rows + j + r] = sums[t * NR + r];
    }
  }
#endif
  for (; j < j1; ++j) {
    const std::uint16_t* row = wd + static_cast<std::size_t>(j) * cols;
    float acc_tail[NT] = {};
    int c = 0;
#ifdef EARSHOT_WHISPER_F16C
    __m256 acc[NT];
    for (int t = 0; t < NT; ++t) acc[t] = _mm256_setzero_ps();
    for (; c + 8 <= cols; c += 8) {
      const __m256 wv = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row + c)));
      for (int t = 0; t < NT; ++t)
        acc[t] = _mm256_fmadd_ps(wv, _mm256_loadu_ps(x + static_cast<std::size_t>(t) * cols + c),
                                 acc[t]);
    }
    for (int t = 0; t < NT; ++t) {
      __m128 s = _mm_add_ps(_mm256_castps256_ps128(acc[t]), _mm256_extractf128_ps(acc[t], 1));
      s = _mm_add_ps(s, _mm_movehl_ps(s, s));
      s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
      acc_tail[t] = _mm_cvtss_f32(s);
    }
#endif
    for (; c < cols; ++c) {
      const float wv = f16_to_f32(row[c]);
      for (int t = 0; t < NT; ++t) acc_tail[t] += wv * x[static_cast<std::size_t>(t) * cols + c];
    }
    for (int t = 0; t < NT; ++t) y[static_cast<std::size_t>(t) * w.rows + j] = acc_tail[t];
  }
}

void f16_few_rows(const float* x, int n, const WeightMatrix& w, int j0, int j1, float* y) {
  int t = 0;
  for (; t + 4 <= n; t += 4)
    f16_rows_kernel<4>(x + static_cast<std::size_t>(t) * w.cols, w, j0, j1,
                       y + static_cast<std::size_t>(t) * w.rows);
  for (; t + 2 <= n; t += 2)
    f16_rows_kernel<2>(x + static_cast<std::size_t>(t) * w.cols, w, j0, j1,
                       y + static_cast<std::size_t>(t) * w.rows);
  for (; t < n; ++t)
    f16_rows_kernel<1>(x + static_cast<std::size_t>(t) * w.cols, w, j0, j1,
                       y + static_cast<std::size_t>(t) * w.rows);
}

void f16_panels(const float* x, int n, const WeightMatrix& w, int j0, int j1, float* y,
                float* scratch) {
  for (int p0 = j0; p0 < j1; p0 += kF16PanelRows) {
    const int p = std::min(kF16PanelRows, j1 - p0);
    convert_f16(w.f16() + static_cast<std::size_t>(p0) * w.cols,
                static_cast<std::size_t>(p) * w.cols, scratch);
    // y[:, p0:p0+p] = x . panel^T
    models::gemm(false, true, n, p, w.cols, x, w.cols, scratch, w.cols, y + p0, w.rows, 0.0f);
  }
}

// Output features [j0, j1) of y.
void linear_columns(const float* x, int n, const WeightMatrix& w, const float* bias, float* y,
                    float* scratch, int j0, int j1) {
  const int count = j1 - j0;
  if (w.type == WeightType::F32) {
    ConstRowMap W(w.f32(), w.rows, w.cols);
    if (n == 1) {
      Eigen::Map<Eigen::VectorXf> yv(y + j0, count);
      yv.noalias() = W.middleRows(j0, count) * Eigen::Map<const Eigen::VectorXf>(x, w.cols);
    } else {
      models::gemm(false, true, n, count, w.cols, x, w.cols,
                   w.f32() + static_cast<std::size_t>(j0) * w.cols, w.cols, y + j0, w.rows, 0.0f);
    }
  } else if (n <= 8) {
    f16_few_rows(x, n, w, j0, j1, y);
  } else {
    f16_panels(x, n, w, j0, j1, y, scratch);
  }
  if (bias != nullptr) {
    RowMap Y(y, n, w.rows);
    Y.middleCols(j0, count).rowwise() += Eigen::Map<const Eigen::RowVectorXf>(bias + j0, count);
  }
}

}  // namespace

void linear(const float* x, int n, const WeightMatrix& w, const float* bias, float* y,
            float* scratch, Parallel* parallel, GemmWorkspace* gemm) {
  if (n <= 0) return;
  const double work = static_cast<double>(n) * w.rows * w.cols;
  // Small products are not worth waking the team.
  Parallel* team = work >= 65536.0 ? parallel : nullptr;
  const std::size_t per_worker = linear_scratch_floats(w.cols);
  parallel_for(team, w.rows, 16, [&](int j0, int j1, int worker) {
    float* mine = scratch + static_cast<std::size_t>(worker) * per_worker;
    if (gemm != nullptr) {
      GemmWorkspace::Scope scope(gemm[worker]);
      linear_columns(x, n, w, bias, y, mine, j0, j1);
    } else {
      linear_columns(x, n, w, bias, y, mine, j0, j1);
    }
  });
}

void weight_row_f32(const WeightMatrix& w, int row, float* out) {
  const std::size_t offset = static_cast<std::size_t>(row) * w.cols;
  if (w.type == WeightType::F32)
    std::memcpy(out, w.f32() + offset, sizeof(float) * static_cast<std::size_t>(w.cols));
  else
    convert_f16(w.f16() + offset, static_cast<std::size_t>(w.cols), out);
}

}  // namespace earshot::models::whisper
