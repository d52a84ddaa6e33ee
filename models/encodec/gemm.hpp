// Matrix products for the EnCodec layers, behind a plain-pointer interface so that Eigen stays
// inside gemm.cpp (its templates are heavy and other components include our headers).
#pragma once

#include "rt/thread_team.hpp"

#include <cstdint>

namespace earshot::encodec {

// C[M,N] = (accumulate ? C : 0) + A[M,K] * B, all row-major with leading dimensions lda/ldb/ldc.
// B is [K,N] (ldb >= N) or, when `b_transposed`, stored as [N,K] (ldb >= K).
//
// The product is computed in tiles small enough that Eigen's packing buffers stay on the stack
// (below EIGEN_STACK_ALLOCATION_LIMIT), so a call never touches the heap: the streaming decoder
// relies on this to run without allocating.
//
// With `parallel`, the rows are shared out in whole tiles (multiples of the row tile), so every
// tile is the same Eigen call as on one thread: the result is bitwise identical for any number
// of threads. M <= kSmallRows (small_gemm.hpp: a streaming push of a few frames) goes to kernels
// that stream B once for all rows; with `parallel` they split the columns, again bitwise the
// same for any number of threads.
void gemm(std::int64_t M, std::int64_t N, std::int64_t K, const float* A, std::int64_t lda,
          const float* B, std::int64_t ldb, bool b_transposed, float* C, std::int64_t ldc,
          bool accumulate, rt::Parallel* parallel = nullptr);

// y[N] += A[N,K] * x[K], A row-major with leading dimension lda. One pass of dot products over
// A's rows (the LSTM recurrence, one time step at a time). Allocates nothing. With `parallel`
// the rows are split in blocks of 64 (each row's dot product is unchanged).
void gemv_accumulate(std::int64_t N, std::int64_t K, const float* A, std::int64_t lda,
                     const float* x, float* y, rt::Parallel* parallel = nullptr);

// C[M,N] = (accumulate ? C : 0) + A[M,K] * B^T, B stored [N,K]: a layer's weights stored by
// output (the decoder's, layers.hpp), i.e. gemm with b_transposed. Few rows (a streaming push)
// stream each output's weights as one sequential run (small_gemm.hpp); more rows go to Eigen.
// (Register-tiled dot products for tens to hundreds of rows lost to Eigen on the decoder's later
// layers, whose K is small: the horizontal sums dominate. Those layers now store [K, N] and run
// through tiled_gemm.hpp, which broadcasts activations instead and needs no horizontal sums.)
void gemm_by_output(std::int64_t M, std::int64_t N, std::int64_t K, const float* A,
                    std::int64_t lda, const float* B, std::int64_t ldb, float* C, std::int64_t ldc,
                    bool accumulate, rt::Parallel* parallel = nullptr);

// gemm_by_output with B stored as IEEE half (the decoder's opt-in F16 weights, layers.hpp):
// every M in groups of kSmallRows rows through the small kernels (each group streams B; float
// products and sums). With `parallel` the outputs split in blocks of 64: bitwise the same.
void gemm_by_output_f16(std::int64_t M, std::int64_t N, std::int64_t K, const float* A,
                        std::int64_t lda, const std::uint16_t* B, std::int64_t ldb, float* C,
                        std::int64_t ldc, bool accumulate, rt::Parallel* parallel = nullptr);

}  // namespace earshot::encodec
