// Matrix-vector products for a few input rows (one decode step), over a range of weight rows.
//
// Decoding is bound by memory bandwidth: every weight is read once per token and used for at
// most a few multiply-adds. These kernels stream the rows [j0, j1) of a weight matrix (F16
// widened in registers, or F32) once, with several rows and input vectors of accumulators in
// flight and the stream prefetched ahead, so one core reads at close to its bandwidth. The
// caller splits the rows between threads (the decoder claims chunks of rows).
#pragma once

#include "models/whisper/linear.hpp"

namespace earshot::models::whisper {

// Largest number of input rows the few-row kernels take in one call.
inline constexpr int kGemvMaxInputs = 8;

// For t < n and j in [j0, j1):  v = dot(x[t*w.cols ..], w[j, :]) + (bias ? bias[j] : 0)
//   accumulate == false: y[t*ldy + j - j0] = v   accumulate == true: y[t*ldy + j - j0] += v
// (y points at the output of row j0; bias at the bias of row 0).
// n <= kGemvMaxInputs. x rows are contiguous (stride w.cols).
void gemv_rows(const float* x, int n, const WeightMatrix& w, int j0, int j1, const float* bias,
               float* y, int ldy, bool accumulate);

}  // namespace earshot::models::whisper
