// The SEANet building blocks of EnCodec, on time-major activations: x[t * channels + c].
//
// Time-major layout makes a convolution's receptive field for one output a contiguous block of
// memory (kernel * in_channels floats when dilation is 1), so a convolution is one matrix product
// over a strided view of its (padded) input with no im2col copy; the LSTM, the quantizer and the
// streaming decoder all consume whole time steps, which are contiguous too.
#pragma once

#include "models/core/tensor.hpp"
#include "rt/memory_budget.hpp"
#include "rt/thread_team.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace earshot::encodec {

using models::Tensor;

// How a layer stores its weights, and so which product runs it.
//   kByInput:  [kernel * in, out] through the tiled Eigen gemm (the encoder).
//   kByOutput: [out, kernel * in]: each output's weights one sequential run, for products with a
//              few rows that stream large weights (the decoder's first conv and first transposed
//              conv at a push of a few frames; small_gemm.hpp).
//   kTiled:    [kernel * in, out] packed in column panels (pack_tiled_weights) for the
//              register-tiled kernel with the bias fused
//              (tiled_gemm.hpp): the decoder's small-channel later stages, where tens to hundreds
//              of rows go through small weights. Transposed convolutions store their phase form
//              (ConvTranspose1d).
enum class WeightLayout { kByInput, kByOutput, kTiled };

// A weight matrix stored as IEEE half (F16): the decoder's opt-in reduced-precision storage for
// its weight-streaming layers (SeanetDecoder::store_streamed_weights_f16). Products convert each
// weight to float as they load it and compute in float. Empty unless that mode is on; when it is
// on, the layer's float `weight` is released.
struct HalfWeights {
  rt::Reservation storage;
  std::int64_t rows = 0;
  std::int64_t cols = 0;
  const std::uint16_t* data() const { return storage.as<std::uint16_t>().data(); }
  bool empty() const { return storage.empty(); }
  // Rounds `weights` (rows x cols floats) to the nearest half, into `budget` under `name`.
  static HalfWeights from(const float* weights, std::int64_t rows, std::int64_t cols,
                          rt::MemoryBudget& budget, const std::string& name);
};

// How ELU evaluates expm1 for negative inputs.
//   kExact: glibc's expm1f (within 1 ulp, like torch). The ENCODER uses it: a faster few-ulp
//           variant perturbed the encoder output enough to flip 24 kbps codes whose reference
//           margin is just above 1e-4.
//   kFast:  a vectorized polynomial (a few ulp, relative error < 5e-7). The DECODER uses it: its
//           audio tolerance (1e-4) is orders of magnitude above, and scalar expm1f was a sixth of
//           the decoder's time.
enum class EluMode { kExact, kFast };

// ELU with alpha 1, in place (elementwise: any split over threads gives the same bits).
void elu_inplace(float* x, std::int64_t n, rt::Parallel* parallel = nullptr,
                 EluMode mode = EluMode::kExact);

// Reflect padding exactly as transformers' EncodecConv1d._pad1d: when the input is not longer
// than the largest pad, it is first extended with zeros so that reflection is defined, and those
// zeros are dropped again afterwards. x [length, channels] -> out [left + length + right,
// channels].
void reflect_pad(const float* x, std::int64_t length, int channels, std::int64_t left,
                 std::int64_t right, std::vector<float>& out);

// GroupNorm(1, C) over a whole [length, C] block (eps 1e-5), then per-channel affine.
void group_norm_inplace(float* y, std::int64_t length, int channels, const float* weight,
                        const float* bias);

// Conv1d with transformers' EncodecConv1d padding rules.
struct Conv1d {
  int in_channels = 0;
  int out_channels = 0;
  int kernel = 1;
  int stride = 1;
  int dilation = 1;
  bool causal = true;
  // Weight layout. kByInput / kTiled: [kernel * in, out], row (j * in + c), column o holds
  // w[o][c][j] (kTiled: then packed, tiled_gemm.hpp). kByOutput: [out, kernel * in], row o,
  // column (j * in + c).
  WeightLayout layout = WeightLayout::kByInput;
  Tensor weight;
  HalfWeights weight_f16;  // kByOutput only, opt-in: replaces `weight` (HalfWeights)
  Tensor bias;             // [out]
  Tensor norm_weight;      // time_group_norm only: GroupNorm(1, out) affine, else empty
  Tensor norm_bias;

  int effective_kernel() const { return (kernel - 1) * dilation + 1; }
  int padding_total() const { return effective_kernel() - stride; }
  // The right padding that completes the last stride: ceil(L / stride) * stride - L.
  std::int64_t extra_padding(std::int64_t length) const;
  // ceil(length / stride).
  std::int64_t output_length(std::int64_t length) const;
  // Floats of workspace `valid` needs (im2col tile; 0 when dilation is 1).
  std::int64_t workspace_floats() const;

  // Offline forward: pads (causal: all on the left, else split with the larger half on the left),
  // convolves, applies the group norm if any. x [length, in] -> y [output_length, out].
  void forward(const float* x, std::int64_t length, std::vector<float>& y,
               rt::Parallel* parallel = nullptr) const;
  // Convolution of an already padded input xp (at least (n_out - 1) * stride + effective_kernel
  // rows) into y [n_out, out], bias included, no norm. Allocates nothing. Bitwise the same for
  // any number of threads (the product splits in whole row tiles).
  void valid(const float* xp, std::int64_t n_out, float* y, float* workspace,
             rt::Parallel* parallel = nullptr) const;
};

// ConvTranspose1d with transformers' EncodecConvTranspose1d trimming.
struct ConvTranspose1d {
  int in_channels = 0;
  int out_channels = 0;
  int kernel = 1;
  int stride = 1;
  bool causal = true;
  double trim_right_ratio = 1.0;
  // Weight layout. kByInput: [in, kernel * out], row c, column (j * out + o) holds w[c][o][j].
  // kByOutput: [kernel * out, in], row (j * out + o), column c (see Conv1d).
  // kTiled (kernel == 2 * stride only): the phase form [2 * in, stride * out]. Output row
  // t * stride + p receives tap p from input t and tap p + stride from input t - 1, so the
  // `stride` output rows of input step t are ONE product row: [x[t-1], x[t]] (contiguous in
  // time-major memory) times this matrix, row (c) holding w[c][o][p + stride] in column
  // (p * out + o) and row (in + c) holding w[c][o][p] (then packed, tiled_gemm.hpp). No col2im
  // scatter, no overlap buffer: the
  // state between pushes is one input row.
  WeightLayout layout = WeightLayout::kByInput;
  Tensor weight;
  HalfWeights weight_f16;  // kByOutput only, opt-in: replaces `weight` (HalfWeights)
  Tensor bias;             // [out]
  Tensor phase_bias;       // kTiled: the bias repeated per phase, [stride * out]
  Tensor norm_weight;
  Tensor norm_bias;

  int padding_total() const { return kernel - stride; }
  int padding_right() const;
  int padding_left() const { return padding_total() - padding_right(); }
  // Rows of the product tile; the workspace holds rows * kernel * out floats.
  std::int64_t tile_rows() const;
  std::int64_t workspace_floats() const {
    return tile_rows() * kernel * out_channels +
           static_cast<std::int64_t>(padding_total()) * out_channels;
  }

  // Offline forward: full transposed convolution, bias, group norm (before trimming, as the
  // reference does), then trim. x [length, in] -> y [length * stride, out].
  void forward(const float* x, std::int64_t length, std::vector<float>& y,
               rt::Parallel* parallel = nullptr) const;
  // Adds the bias-free contribution of x [length, in] to full [(length - 1) * stride + kernel,
  // out]. Allocates nothing. `workspace` holds workspace_floats() per thread of `parallel`.
  // Threads take contiguous input ranges; the (kernel - stride) overlap rows a range spills into
  // the next are added afterwards on the calling thread. An output row receives at most
  // ceil(kernel / stride) contributions; with kernel <= 2 * stride (EnCodec: kernel = 2 * stride)
  // that is two, whose float sum does not depend on order, so the result is bitwise the same for
  // any number of threads.
  // (Not for kTiled.)
  void accumulate(const float* x, std::int64_t length, float* full, float* workspace,
                  rt::Parallel* parallel = nullptr) const;
  // kTiled: output rows [t * stride, (t + n) * stride) for input rows t..t+n-1, bias included,
  // from xp = input rows t-1 .. t+n-1 ([n + 1, in]; row t-1 is zeros before the first input).
  void phase_rows(const float* xp, std::int64_t n, float* y,
                  rt::Parallel* parallel = nullptr) const;
};

// Stacked LSTM with the SEANet skip connection: y = lstm(x) + x (PyTorch gate order i, f, g, o).
struct Lstm {
  int size = 0;
  int layers = 0;
  // Gate nonlinearities: glibc's expf / tanhf (false: the encoder, whose 24 kbps decisions sit
  // close to ties), or vectorized polynomials (true: the decoder; a few 1e-7, see layers.cpp).
  bool fast_gates = false;
  std::vector<Tensor> w_ih;  // per layer [4 * size, size], as stored
  std::vector<Tensor> w_hh;  // per layer [4 * size, size]
  // Opt-in (decoder): replace w_ih / w_hh, which are then empty (HalfWeights). (Rows of
  // [w_ih | w_hh] side by side were tried for one pass per one-frame step: 4% faster at one frame,
  // twice as slow at 2 and 4, whose strided half-rows the prefetchers over-fetch.)
  std::vector<HalfWeights> w_ih_f16;
  std::vector<HalfWeights> w_hh_f16;
  std::vector<Tensor> bias;  // per layer [4 * size] = b_ih + b_hh

  std::int64_t workspace_floats(std::int64_t length) const { return length * 5 * size; }
  // x, y [length, size] (may not alias); h, c [layers, size] carry the state in and out.
  // Allocates nothing.
  // With `parallel`, the input projections split in row tiles and each step's recurrent
  // product in row blocks: bitwise the same for any number of threads.
  void forward(const float* x, std::int64_t length, float* y, float* h, float* c, float* workspace,
               rt::Parallel* parallel = nullptr) const;
  // Offline: zero state, allocates its workspace.
  void forward(const float* x, std::int64_t length, std::vector<float>& y,
               rt::Parallel* parallel = nullptr) const;
};

}  // namespace earshot::encodec
