// Products with few rows (M <= kSmallRows): the streaming decoder's shape, where a push of a few
// frames multiplies a handful of activation rows by a large weight matrix. These are bound by
// how fast the weights stream from memory, so each kernel reads every weight byte exactly once
// per call, in long sequential runs, for all M rows at once (Eigen's tiled GEMM re-packs the
// weights and, at M = 2, ran at half the memory bandwidth; see bench/encodec_bench.cpp).
//
// Summation order is fixed per output element (k ascending in fused multiply-adds for the
// [K,N] layout; 16 lane-wise partial sums then a fixed tree for the [N,K] layout), independent
// of M, of the column/row blocking and of how outputs are split across threads, so splitting
// the outputs over a team gives bitwise the same result.
#pragma once

#include <cstdint>

namespace earshot::encodec {

inline constexpr std::int64_t kSmallRows = 8;

// Y[M,N] = (accumulate ? Y : 0) + X[M,K] * B[K,N]; row-major, leading dimensions ldx/ldb/ldy.
// Only the columns [n_begin, n_end) are computed (the caller may split columns over threads).
void small_gemm_kn(std::int64_t M, std::int64_t N, std::int64_t K, const float* X, std::int64_t ldx,
                   const float* B, std::int64_t ldb, float* Y, std::int64_t ldy, bool accumulate,
                   std::int64_t n_begin, std::int64_t n_end);

// Y[M,N] = (accumulate ? Y : 0) + X[M,K] * B^T with B stored [N,K] (each output is the dot
// product of one B row with one X row). Only the outputs [n_begin, n_end) are computed. Any M:
// above kSmallRows in register tiles of 4 x 4 outputs (the decoder's later layers, whose small
// weights stay in cache while tens to hundreds of rows go through them).
void small_gemm_nk(std::int64_t M, std::int64_t K, const float* X, std::int64_t ldx, const float* B,
                   std::int64_t ldb, float* Y, std::int64_t ldy, bool accumulate,
                   std::int64_t n_begin, std::int64_t n_end);
// The same with B stored as IEEE half (F16) and converted to float as it is loaded: the
// decoder's opt-in reduced-precision storage for its weight-streaming layers (half the bytes).
// Products and sums stay float, in the same order. M <= kSmallRows.
void small_gemm_nk(std::int64_t M, std::int64_t K, const float* X, std::int64_t ldx,
                   const std::uint16_t* B, std::int64_t ldb, float* Y, std::int64_t ldy,
                   bool accumulate, std::int64_t n_begin, std::int64_t n_end);

}  // namespace earshot::encodec
