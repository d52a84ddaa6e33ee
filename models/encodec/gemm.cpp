#include "models/encodec/gemm.hpp"

#include "models/encodec/small_gemm.hpp"

// GCC 12 reports false -Wmaybe-uninitialized inside its own AVX-512 intrinsics when Eigen's
// kernels are inlined here; the warning is in the compiler's header, not in this code.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <Eigen/Core>

#include <algorithm>
#include <cstdint>

namespace earshot::encodec {
namespace {

using RowMajor = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using ColMajor = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::ColMajor>;
using Stride = Eigen::OuterStride<>;

// Tile sizes: Eigen packs at most (rows x depth) of A and (depth x cols) of B per call; keeping
// both products under 32k floats (128 KiB, Eigen's default stack allocation limit) means the
// packing buffers are stack arrays, never malloc.
constexpr std::int64_t kTileM = 128;
constexpr std::int64_t kTileK = 128;
constexpr std::int64_t kTileN = 256;
static_assert(kTileM * kTileK * 4 <= 128 * 1024 && kTileK * kTileN * 4 <= 128 * 1024);

}  // namespace

namespace {

void gemm_serial(std::int64_t M, std::int64_t N, std::int64_t K, const float* A, std::int64_t lda,
                 const float* B, std::int64_t ldb, bool b_transposed, float* C, std::int64_t ldc,
                 bool accumulate) {
  if (M <= 0 || N <= 0) return;
  if (!accumulate) {
    for (std::int64_t m = 0; m < M; ++m) std::fill(C + m * ldc, C + m * ldc + N, 0.0f);
  }
  if (K <= 0) return;
  for (std::int64_t m0 = 0; m0 < M; m0 += kTileM) {
    const std::int64_t mt = std::min(kTileM, M - m0);
    for (std::int64_t n0 = 0; n0 < N; n0 += kTileN) {
      const std::int64_t nt = std::min(kTileN, N - n0);
      Eigen::Map<RowMajor, 0, Stride> c(C + m0 * ldc + n0, mt, nt, Stride(ldc));
      for (std::int64_t k0 = 0; k0 < K; k0 += kTileK) {
        const std::int64_t kt = std::min(kTileK, K - k0);
        Eigen::Map<const RowMajor, 0, Stride> a(A + m0 * lda + k0, mt, kt, Stride(lda));
        if (b_transposed) {
          // Row-major [N,K] is column-major [K,N].
          Eigen::Map<const ColMajor, 0, Stride> b(B + n0 * ldb + k0, kt, nt, Stride(ldb));
          c.noalias() += a * b;
        } else {
          Eigen::Map<const RowMajor, 0, Stride> b(B + k0 * ldb + n0, kt, nt, Stride(ldb));
          c.noalias() += a * b;
        }
      }
    }
  }
}

}  // namespace

namespace {

// Few rows (the streaming decoder's pushes): the product is bound by reading B, which the small
// kernels stream once for all rows. With a team, the columns (outputs) are split in blocks of
// 64; each output is computed the same way whatever the split.
void gemm_small(std::int64_t M, std::int64_t N, std::int64_t K, const float* A, std::int64_t lda,
                const float* B, std::int64_t ldb, bool b_transposed, float* C, std::int64_t ldc,
                bool accumulate, rt::Parallel* parallel) {
  auto run = [&](std::int64_t begin, std::int64_t end) {
    if (b_transposed) {
      small_gemm_nk(M, K, A, lda, B, ldb, C, ldc, accumulate, begin, end);
    } else {
      small_gemm_kn(M, N, K, A, lda, B, ldb, C, ldc, accumulate, begin, end);
    }
  };
  // Below ~1 MB of weights a wake-up of the team costs more than it saves.
  constexpr std::int64_t kMinParallelWeights = 1 << 18;
  if (rt::parallel_size(parallel) <= 1 || N * K < kMinParallelWeights || N > INT32_MAX) {
    run(0, N);
    return;
  }
  rt::parallel_for(parallel, static_cast<int>(N), 64,
                   [&](int begin, int end, int) { run(begin, end); });
}

}  // namespace

void gemm(std::int64_t M, std::int64_t N, std::int64_t K, const float* A, std::int64_t lda,
          const float* B, std::int64_t ldb, bool b_transposed, float* C, std::int64_t ldc,
          bool accumulate, rt::Parallel* parallel) {
  if (M <= 0 || N <= 0) return;
  if (M <= kSmallRows) {
    gemm_small(M, N, K, A, lda, B, ldb, b_transposed, C, ldc, accumulate, parallel);
    return;
  }
  if (rt::parallel_size(parallel) <= 1 || M <= kTileM || M > INT32_MAX) {
    gemm_serial(M, N, K, A, lda, B, ldb, b_transposed, C, ldc, accumulate);
    return;
  }
  rt::parallel_for(parallel, static_cast<int>(M), static_cast<int>(kTileM),
                   [&](int begin, int end, int) {
                     gemm_serial(end - begin, N, K, A + begin * lda, lda, B, ldb, b_transposed,
                                 C + begin * ldc, ldc, accumulate);
                   });
}

void gemv_accumulate(std::int64_t N, std::int64_t K, const float* A, std::int64_t lda,
                     const float* x, float* y, rt::Parallel* parallel) {
  gemm_small(1, N, K, x, K, A, lda, true, y, N, true, parallel);
}

void gemm_by_output(std::int64_t M, std::int64_t N, std::int64_t K, const float* A,
                    std::int64_t lda, const float* B, std::int64_t ldb, float* C, std::int64_t ldc,
                    bool accumulate, rt::Parallel* parallel) {
  // Up to kGroupedRowsUpTo rows with K >= kGroupedMinDepth: groups of kSmallRows rows, each
  // streaming B (from cache after the first group). Measured against Eigen on the decoder's
  // layers at 2 frames per push (16 rows through 256 -> 128 channels). With a small K the
  // kernels' horizontal sums dominate, and Eigen is faster.
  constexpr std::int64_t kGroupedRowsUpTo = 64;
  constexpr std::int64_t kGroupedMinDepth = 256;
  if (M <= kSmallRows || (M <= kGroupedRowsUpTo && K >= kGroupedMinDepth)) {
    for (std::int64_t m0 = 0; m0 < M; m0 += kSmallRows) {
      gemm_small(std::min(kSmallRows, M - m0), N, K, A + m0 * lda, lda, B, ldb, true, C + m0 * ldc,
                 ldc, accumulate, parallel);
    }
    return;
  }
  gemm(M, N, K, A, lda, B, ldb, true, C, ldc, accumulate, parallel);
}

void gemm_by_output_f16(std::int64_t M, std::int64_t N, std::int64_t K, const float* A,
                        std::int64_t lda, const std::uint16_t* B, std::int64_t ldb, float* C,
                        std::int64_t ldc, bool accumulate, rt::Parallel* parallel) {
  if (M <= 0 || N <= 0) return;
  for (std::int64_t m0 = 0; m0 < M; m0 += kSmallRows) {
    const std::int64_t rows = std::min(kSmallRows, M - m0);
    auto run = [&](std::int64_t begin, std::int64_t end) {
      small_gemm_nk(rows, K, A + m0 * lda, lda, B, ldb, C + m0 * ldc, ldc, accumulate, begin, end);
    };
    // Half the bytes of the float version: the same ~1 MB of weights below which a wake-up of
    // the team costs more than it saves.
    constexpr std::int64_t kMinParallelWeights = 1 << 19;
    if (rt::parallel_size(parallel) <= 1 || N * K < kMinParallelWeights || N > INT32_MAX) {
      run(0, N);
    } else {
      rt::parallel_for(parallel, static_cast<int>(N), 64,
                       [&](int begin, int end, int) { run(begin, end); });
    }
  }
}

}  // namespace earshot::encodec
