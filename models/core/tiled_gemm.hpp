// Register-tiled product against weights packed once at load, for any model whose weights are
// fixed: Y = X W with activations broadcast from X and weights streamed from column panels.
//
// Where it came from, and where it is used:
//  - EnCodec's decoder, small-channel later stages: a streaming push of one frame brings 8 to 320
//    time rows through convolutions of 16 to 640 outputs with K of 16 to 768. Eigen re-packs both
//    operands for every such call and, at these sizes, spent as long packing as multiplying
//    (35-45 GFLOP/s, against 65-85 for large sgemm).
//  - HTDemucs' transformer Linear layers (2688 x 512 x 512 to 2688 x 2048 x 512): 86-101 GFLOP/s
//    against 67-72 for Eigen's sgemm on the same shapes (1 thread, this 2-core Zen 4 machine).
//    Large M runs in row blocks whose X slice stays in L2 while every panel sweeps it.
//
// The weights are [K, N] (k-major, outputs contiguous), packed once at load into column panels of
// kTiledPanel outputs whose K rows are contiguous: a panel is one sequential run that the hardware
// prefetchers stream (in the decoder the weights come from L3 or memory at every push: 27 MB of
// other weights pass between two uses). A tile of R rows x 3 vectors of 16 outputs is held in
// registers while k runs from 0 to K; each step loads the panel row's 3 weight vectors and
// broadcasts one activation per row (R x 3 fused multiply-adds; 8 rows: a one-frame push's rows
// in one tile, so each weight is read once). The bias is
// the accumulators' starting value, so it costs no extra pass. Time-major activations make a
// dilation-1 convolution's receptive field one contiguous run, so X is the layer's (padded) input
// itself with a row stride of stride * in_channels: no im2col copy.
//
// Every output is (accumulate ? Y : 0) + bias, then k = 0..K-1 in fused multiply-adds: the same
// bits whatever the tiling, the number of rows, or how a team splits the rows or columns.
#pragma once

#include "rt/thread_team.hpp"

#include <cstdint>

namespace earshot::models {

inline constexpr std::int64_t kTiledPanel = 48;

// Packs W [K, N] (row stride ldw) into `packed` (K * N floats): panel p holds columns
// [p * kTiledPanel, min(N, (p + 1) * kTiledPanel)) of every row, rows contiguous, panels in order.
void pack_tiled_weights(std::int64_t K, std::int64_t N, const float* W, std::int64_t ldw,
                        float* packed);
// The same packing from the transposed layout: W_T [N, K] (row stride ldw), e.g. a torch
// Linear weight [out, in], so that Y = X W_T^T.
void pack_tiled_weights_transposed(std::int64_t K, std::int64_t N, const float* W_T,
                                   std::int64_t ldw, float* packed);

// Y[M,N] = (accumulate ? Y : 0) + bias[N] + X[M,K] * W[K,N], W packed by pack_tiled_weights;
// bias may be null. Row strides ldx, ldy (>= N). Allocates nothing. With `parallel`, large
// products split their rows (or, with few rows, their panels) across the team: bitwise the same.
void tiled_gemm(std::int64_t M, std::int64_t N, std::int64_t K, const float* X, std::int64_t ldx,
                const float* packed, const float* bias, float* Y, std::int64_t ldy, bool accumulate,
                rt::Parallel* parallel = nullptr);

}  // namespace earshot::models
