// Direct convolution kernels over "row pointers": each output is a bias plus a sum of weighted
// input rows, every input row a contiguous run of positions, so no im2col matrix is built and
// nothing is packed.
//
//   conv_rows:  out[c][t] = b[c] + sum_j w[c * ldw + taps[j]] * rows[j][t],  j in order.
//
// The frequency encoders use it directly (a conv along frequency reads whole input rows). The
// time branch's strided conv becomes the same sum after a phase split: with stride s, input
// position s*t + k - pad is phase (k - pad) mod s at index t + floor((k - pad) / s), so each
// (input channel, tap) is one contiguous row of its phase. At K = cin x kw up to 1536 the kernel
// runs at or above the 1024^3 sgemm rate (a 64-position tile of every row stays in cache while
// all the output channels sweep it), where im2col + GEMM lost 20-40% to packing.
#pragma once

#include "models/htdemucs/ops.hpp"

#include <cstdint>

namespace earshot::htdemucs {

// The most rows (input channels x taps) one output may sum.
constexpr int kMaxConvRows = 2048;

// Positions [0, len) of C output rows (row c at out + c * out_plane); rows[j][0, len) are read.
// b may be null (no bias).
void conv_rows(const float* const* rows, const int* taps, int n, const float* w, int ldw,
               const float* b, int C, std::int64_t len, float* out, std::int64_t out_plane);

// The time branch's strided 1-D conv (in.h == out.h == 1, stride 2-8) through the phase split,
// split across the workers by output position, with the exact GELU applied block by block when
// `gelu`. Uses each worker's Workers::cols for the phase rows of one block.
bool time_conv_supported(const ConvGeom& g, const Act& in, const Act& out, std::int64_t scratch);
void time_conv(const float* weight, const float* bias, const ConvGeom& g, const Act& in,
               const Act& out, Workers& workers, bool gelu);

// The sums behind a GLU over channels, from row pointers: for positions t in [t0, t1),
// out[c * out_plane + t] = a / (1 + exp(-g)), a = b[c] + sum_j w[c * ldw + taps[j]] * rows[j][t]
// and g the same with row c + C (j in order, from the bias), for c < C. Row j belongs to shift
// class cls[j] < classes: it holds input positions t + first_shift + cls[j], and lanes whose
// position falls outside [0, W) read as zero (the row ends of a padded conv). b may be null.
// The 2C sums of a 64-position tile stay in registers: only the C outputs are written.
constexpr int kMaxShiftClasses = 15;
void conv_glu_rows(const float* const* rows, const int* taps, const unsigned char* cls, int n,
                   const float* w, int ldw, const float* b, int C, std::int64_t t0, std::int64_t t1,
                   std::int64_t W, int classes, int first_shift, float* out,
                   std::int64_t out_plane);

// A "same" convolution (stride 1, dilation 1, odd kernel kh x kw, padding kh/2 and kw/2) with
// 2C outputs followed by GLU over channels, directly: out[c] = a / (1 + exp(-g)) with a, g the
// conv outputs c and c + C. Each output position's 2C sums live only in registers, so neither
// an im2col matrix nor the 2C-channel conv output is ever stored. Rows shifted left or right by
// the kernel's width read zeros past the row's ends through load masks. `weight` is torch's
// [2C, Cin, kh, kw]. The decoders' rewrite (3 x 3 in the frequency branch, 3 in the time
// branch) at K = Cin x kh x kw up to 2048 (larger ones keep the GEMM path).
bool same_conv_glu_supported(const ConvGeom& g, const Act& in, const Act& out);
void same_conv_glu(const float* weight, const float* bias, const ConvGeom& g, const Act& in,
                   const Act& out, Workers& workers);

}  // namespace earshot::htdemucs
