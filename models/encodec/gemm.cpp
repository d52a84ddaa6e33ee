#include "models/encodec/gemm.hpp"

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
  if (M == 1) {
    // A single row (streaming, one frame): a matrix-vector product streams B once, without
    // the tiling's repeated passes over C. Eigen keeps its vector temporaries on the stack.
    Eigen::Map<const Eigen::RowVectorXf> a(A, K);
    Eigen::Map<Eigen::RowVectorXf> c(C, N);
    if (b_transposed) {
      Eigen::Map<const RowMajor, 0, Stride> b(B, N, K, Stride(ldb));
      c.noalias() += a * b.transpose();
    } else {
      Eigen::Map<const RowMajor, 0, Stride> b(B, K, N, Stride(ldb));
      c.noalias() += a * b;
    }
    return;
  }
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

void gemv_serial(std::int64_t N, std::int64_t K, const float* A, std::int64_t lda, const float* x,
                 float* y) {
  if (N <= 0 || K <= 0) return;
  Eigen::Map<const RowMajor, 0, Stride> a(A, N, K, Stride(lda));
  Eigen::Map<const Eigen::VectorXf> v(x, K);
  Eigen::Map<Eigen::VectorXf> out(y, N);
  out.noalias() += a * v;
}

}  // namespace

void gemm(std::int64_t M, std::int64_t N, std::int64_t K, const float* A, std::int64_t lda,
          const float* B, std::int64_t ldb, bool b_transposed, float* C, std::int64_t ldc,
          bool accumulate, rt::Parallel* parallel) {
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
  constexpr int kRows = 64;
  if (rt::parallel_size(parallel) <= 1 || N <= kRows || N > INT32_MAX) {
    gemv_serial(N, K, A, lda, x, y);
    return;
  }
  rt::parallel_for(parallel, static_cast<int>(N), kRows, [&](int begin, int end, int) {
    gemv_serial(end - begin, K, A + begin * lda, lda, x, y + begin);
  });
}

}  // namespace earshot::encodec
