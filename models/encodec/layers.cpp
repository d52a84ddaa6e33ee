#include "models/encodec/layers.hpp"

#include "models/core/half.hpp"
#include "models/core/tiled_gemm.hpp"
#include "models/encodec/gemm.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>

namespace earshot::encodec {

using models::kTiledPanel;
using models::pack_tiled_weights;
using models::tiled_gemm;
namespace {

// Upper bound of one im2col / col2im tile, in floats (256 KiB).
constexpr std::int64_t kTileFloats = 1 << 16;

inline float sigmoid(float x) {
  return 1.0f / (1.0f + std::exp(-x));
}

// exp(a) for a in [-87, 0], branch-free so that loops calling it vectorize: 2^n * e^r with
// |r| <= ln2 / 2 and a degree-6 polynomial (relative error ~2e-7). The decoder's LSTM gates and
// its ELU both use it.
inline float exp_nonpositive(float a) {
  // Round to nearest by adding 1.5 * 2^23: the integer lands in the low mantissa bits.
  constexpr float kShifter = 12582912.0f;
  const float shifted = a * 1.44269504f + kShifter;
  const std::int32_t n_int =
      std::bit_cast<std::int32_t>(shifted) - std::bit_cast<std::int32_t>(kShifter);
  const float n = shifted - kShifter;
  const float r = (a - n * 0.693145751953125f) - n * 1.42860677e-06f;
  float p = 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  return p * std::bit_cast<float>((n_int + 127) << 23);
}

// exp(-|x|) for the decoder's LSTM gates.
inline float exp_neg_abs(float x) {
  return exp_nonpositive(std::max(-std::abs(x), -87.0f));
}

// sigmoid(x) = 1 / (1 + e^-x), from e = exp(-|x|) without overflow on either side.
inline float sigmoid_fast(float x) {
  const float e = exp_neg_abs(x);
  const float s = 1.0f / (1.0f + e);
  return x >= 0.0f ? s : e * s;
}

// tanh(x) = sign(x) (1 - e) / (1 + e), e = exp(-2|x|): absolute error a few 1e-7 (relative near
// 0 worse, which the cell state and the decoder's 1e-4 audio tolerance do not see).
inline float tanh_fast(float x) {
  const float e = exp_neg_abs(2.0f * x);
  const float t = (1.0f - e) / (1.0f + e);
  return x >= 0.0f ? t : -t;
}

// One step's gates and state, vectorizable (the decoder).
void lstm_cell_fast(const float* __restrict g, std::int64_t H, float* __restrict c,
                    float* __restrict h, float* __restrict ht) {
#if defined(__GNUC__) && !defined(__clang__)  // clang (the fuzz build) has no ivdep
#pragma GCC ivdep
#endif
  for (std::int64_t i = 0; i < H; ++i) {
    const float ig = sigmoid_fast(g[i]);
    const float fg = sigmoid_fast(g[H + i]);
    const float gg = tanh_fast(g[2 * H + i]);
    const float og = sigmoid_fast(g[3 * H + i]);
    c[i] = fg * c[i] + ig * gg;
    h[i] = og * tanh_fast(c[i]);
    ht[i] = h[i];
  }
}

}  // namespace

// Scalar expm1 (glibc, within 1 ulp) on purpose: torch's ELU is a 1-ulp expm1 too, and a
// faster few-ulp variant (Kahan's formula on vectorized exp/log) perturbed the encoder output
// enough to flip 24 kbps codes whose reference margin is just above 1e-4 (stage 27, frame 63).
namespace {

void elu_exact(float* x, std::int64_t begin, std::int64_t end) {
  for (std::int64_t i = begin; i < end; ++i) {
    if (x[i] <= 0.0f) x[i] = std::expm1(x[i]);
  }
}

// Branch-free so that the compiler vectorizes it. For x <= 0: |x| < 0.35 uses the Taylor series
// of expm1 to x^7 (truncation < 6e-9 relative: no cancellation near 0); below, exp(x) - 1 with
// exp(x) = 2^n * e^r, |r| <= ln2 / 2, degree-6 polynomial (relative error ~2e-7, and the result
// is <= -0.29 so subtracting 1 adds no cancellation).
void elu_fast(float* x, std::int64_t begin, std::int64_t end) {
  for (std::int64_t i = begin; i < end; ++i) {
    const float v = x[i];
    const float a = std::min(std::max(v, -87.0f), 0.0f);
    const float big = exp_nonpositive(a) - 1.0f;
    float t = 1.0f / 5040.0f;
    t = t * a + 1.0f / 720.0f;
    t = t * a + 1.0f / 120.0f;
    t = t * a + 1.0f / 24.0f;
    t = t * a + 1.0f / 6.0f;
    t = t * a + 0.5f;
    t = t * a + 1.0f;
    const float small = t * a;
    const float neg = a > -0.35f ? small : big;
    x[i] = v > 0.0f ? v : neg;
  }
}

}  // namespace

void elu_inplace(float* x, std::int64_t n, rt::Parallel* parallel, EluMode mode) {
  auto run = [x, mode](std::int64_t begin, std::int64_t end) {
    if (mode == EluMode::kFast) {
      elu_fast(x, begin, end);
    } else {
      elu_exact(x, begin, end);
    }
  };
  constexpr std::int64_t kMinPerThread = 1 << 14;  // below this the wake-up costs more
  if (rt::parallel_size(parallel) <= 1 || n < 2 * kMinPerThread || n > INT32_MAX) {
    run(0, n);
    return;
  }
  rt::parallel_for(parallel, static_cast<int>(n), 64, [&](int b, int e, int) { run(b, e); });
}

namespace {
void add_bias(float* y, std::int64_t rows, int channels, const float* b, rt::Parallel* parallel) {
  auto run = [&](int begin, int end, int) {
    for (std::int64_t t = begin; t < end; ++t) {
      float* row = y + t * channels;
      for (int o = 0; o < channels; ++o) row[o] += b[o];
    }
  };
  if (rt::parallel_size(parallel) <= 1 || rows * channels < (1 << 15)) {
    run(0, static_cast<int>(rows), 0);
    return;
  }
  rt::parallel_for(parallel, static_cast<int>(rows), 16, run);
}
}  // namespace

void reflect_pad(const float* x, std::int64_t length, int channels, std::int64_t left,
                 std::int64_t right, std::vector<float>& out) {
  const std::int64_t max_pad = std::max(left, right);
  // Zero extension that makes reflection defined (dropped from the end afterwards).
  const std::int64_t extra = length <= max_pad ? max_pad - length + 1 : 0;
  const std::int64_t ext_len = length + extra;
  const std::int64_t total = left + length + right;
  out.assign(static_cast<std::size_t>(total * channels), 0.0f);
  auto ext_row = [&](std::int64_t i) -> const float* {
    static const float* none = nullptr;
    return i < length ? x + i * channels : none;  // rows past `length` are the zero extension
  };
  auto put = [&](std::int64_t dst, std::int64_t src) {
    if (dst < 0 || dst >= total) return;
    const float* row = ext_row(src);
    if (row != nullptr) std::memcpy(&out[dst * channels], row, sizeof(float) * channels);
  };
  for (std::int64_t i = 0; i < left; ++i) put(i, left - i);
  for (std::int64_t i = 0; i < ext_len; ++i) put(left + i, i);
  for (std::int64_t i = 0; i < right; ++i) put(left + ext_len + i, ext_len - 2 - i);
}

void group_norm_inplace(float* y, std::int64_t length, int channels, const float* weight,
                        const float* bias) {
  const std::int64_t n = length * channels;
  if (n == 0) return;
  double sum = 0;
  for (std::int64_t i = 0; i < n; ++i) sum += y[i];
  const double mean = sum / static_cast<double>(n);
  double var = 0;
  for (std::int64_t i = 0; i < n; ++i) var += (y[i] - mean) * (y[i] - mean);
  var /= static_cast<double>(n);
  const double inv = 1.0 / std::sqrt(var + 1e-5);
  for (std::int64_t t = 0; t < length; ++t) {
    float* row = y + t * channels;
    for (int c = 0; c < channels; ++c) {
      row[c] = static_cast<float>((row[c] - mean) * inv) * weight[c] + bias[c];
    }
  }
}

HalfWeights HalfWeights::from(const float* weights, std::int64_t rows, std::int64_t cols,
                              rt::MemoryBudget& budget, const std::string& name) {
  HalfWeights h;
  h.rows = rows;
  h.cols = cols;
  h.storage = budget.reserve_array<std::uint16_t>(name, static_cast<std::size_t>(rows * cols));
  auto* dst = h.storage.as<std::uint16_t>().data();
  for (std::int64_t i = 0; i < rows * cols; ++i) dst[i] = models::f32_to_f16(weights[i]);
  return h;
}

// ---- Conv1d ------------------------------------------------------------------------------------

std::int64_t Conv1d::extra_padding(std::int64_t length) const {
  return (stride - length % stride) % stride;
}

std::int64_t Conv1d::output_length(std::int64_t length) const {
  return (length + stride - 1) / stride;
}

std::int64_t Conv1d::workspace_floats() const {
  if (dilation == 1) return 0;
  return std::max<std::int64_t>(kTileFloats, static_cast<std::int64_t>(kernel) * in_channels);
}

void Conv1d::valid(const float* xp, std::int64_t n_out, float* y, float* workspace,
                   rt::Parallel* parallel) const {
  const std::int64_t k_in = static_cast<std::int64_t>(kernel) * in_channels;
  // One product of `rows` output rows whose receptive fields are rows of `x` (stride ldx).
  auto product = [&](std::int64_t rows, const float* x, std::int64_t ldx, float* out) {
    switch (layout) {
      case WeightLayout::kTiled:  // bias fused
        tiled_gemm(rows, out_channels, k_in, x, ldx, weight.data(), bias.data(), out, out_channels,
                   false, parallel);
        break;
      case WeightLayout::kByOutput:
        if (!weight_f16.empty()) {
          gemm_by_output_f16(rows, out_channels, k_in, x, ldx, weight_f16.data(), k_in, out,
                             out_channels, false, parallel);
        } else {
          gemm_by_output(rows, out_channels, k_in, x, ldx, weight.data(), k_in, out, out_channels,
                         false, parallel);
        }
        break;
      case WeightLayout::kByInput:
        gemm(rows, out_channels, k_in, x, ldx, weight.data(), out_channels, false, out,
             out_channels, false, parallel);
        break;
    }
  };
  if (dilation == 1) {
    // Output t reads rows [t * stride, t * stride + kernel): one contiguous block.
    product(n_out, xp, static_cast<std::int64_t>(stride) * in_channels, y);
  } else {
    const std::int64_t rows = std::max<std::int64_t>(1, workspace_floats() / k_in);
    for (std::int64_t t0 = 0; t0 < n_out; t0 += rows) {
      const std::int64_t nt = std::min(rows, n_out - t0);
      for (std::int64_t t = 0; t < nt; ++t) {
        for (int j = 0; j < kernel; ++j) {
          const float* src =
              xp + ((t0 + t) * stride + static_cast<std::int64_t>(j) * dilation) * in_channels;
          std::memcpy(workspace + t * k_in + static_cast<std::int64_t>(j) * in_channels, src,
                      sizeof(float) * in_channels);
        }
      }
      product(nt, workspace, k_in, y + t0 * out_channels);
    }
  }
  if (layout != WeightLayout::kTiled) add_bias(y, n_out, out_channels, bias.data(), parallel);
}

void Conv1d::forward(const float* x, std::int64_t length, std::vector<float>& y,
                     rt::Parallel* parallel) const {
  const std::int64_t extra = extra_padding(length);
  std::int64_t left = 0;
  std::int64_t right = 0;
  if (causal) {
    left = padding_total();
    right = extra;
  } else {
    right = padding_total() / 2;
    left = padding_total() - right;
    right += extra;
  }
  std::vector<float> padded;
  reflect_pad(x, length, in_channels, left, right, padded);
  const std::int64_t n_out = output_length(length);
  y.assign(static_cast<std::size_t>(n_out * out_channels), 0.0f);
  std::vector<float> workspace(static_cast<std::size_t>(workspace_floats()));
  valid(padded.data(), n_out, y.data(), workspace.data(), parallel);
  if (!norm_weight.empty()) {
    group_norm_inplace(y.data(), n_out, out_channels, norm_weight.data(), norm_bias.data());
  }
}

// ---- ConvTranspose1d ---------------------------------------------------------------------------

int ConvTranspose1d::padding_right() const {
  if (causal) return static_cast<int>(std::ceil(padding_total() * trim_right_ratio));
  return padding_total() / 2;
}

std::int64_t ConvTranspose1d::tile_rows() const {
  const std::int64_t per_row = static_cast<std::int64_t>(kernel) * out_channels;
  return std::max<std::int64_t>(1, kTileFloats / per_row);
}

namespace {

// Input rows [t_begin, t_end) of a transposed convolution: product tile by tile, then col2im
// (input step t adds `kernel` rows starting at output row t * stride). Rows at or beyond
// `spill_row` go to `spill` (indexed from spill_row) instead of `full`.
void transposed_range(const ConvTranspose1d& conv, const float* x, std::int64_t t_begin,
                      std::int64_t t_end, float* full, float* tile, std::int64_t spill_row,
                      float* spill) {
  const std::int64_t out = conv.out_channels;
  const std::int64_t k_out = static_cast<std::int64_t>(conv.kernel) * out;
  const std::int64_t rows = conv.tile_rows();
  for (std::int64_t t0 = t_begin; t0 < t_end; t0 += rows) {
    const std::int64_t nt = std::min(rows, t_end - t0);
    if (conv.layout == WeightLayout::kByOutput && !conv.weight_f16.empty()) {
      gemm_by_output_f16(nt, k_out, conv.in_channels, x + t0 * conv.in_channels, conv.in_channels,
                         conv.weight_f16.data(), conv.in_channels, tile, k_out, false);
    } else if (conv.layout == WeightLayout::kByOutput) {
      gemm_by_output(nt, k_out, conv.in_channels, x + t0 * conv.in_channels, conv.in_channels,
                     conv.weight.data(), conv.in_channels, tile, k_out, false);
    } else {
      gemm(nt, k_out, conv.in_channels, x + t0 * conv.in_channels, conv.in_channels,
           conv.weight.data(), k_out, false, tile, k_out, false);
    }
    for (std::int64_t t = 0; t < nt; ++t) {
      const std::int64_t row0 = (t0 + t) * conv.stride;
      const float* src = tile + t * k_out;
      for (std::int64_t j = 0; j < conv.kernel; ++j) {
        const std::int64_t r = row0 + j;
        float* dst = r < spill_row ? full + r * out : spill + (r - spill_row) * out;
        for (std::int64_t o = 0; o < out; ++o) dst[o] += src[j * out + o];
      }
    }
  }
}

}  // namespace

void ConvTranspose1d::accumulate(const float* x, std::int64_t length, float* full, float* workspace,
                                 rt::Parallel* parallel) const {
  const int workers = rt::parallel_size(parallel);
  const std::int64_t never = INT64_MAX;
  if (workers <= 1 || workers > 64 || length < 2 * tile_rows() || length > INT32_MAX) {
    transposed_range(*this, x, 0, length, full, workspace, never, nullptr);
    return;
  }
  const std::int64_t per = workspace_floats();
  const std::int64_t tail = padding_total();  // rows a range spills past its own outputs
  const std::int64_t out = out_channels;
  std::int64_t ends[64] = {};
  rt::parallel_for(parallel, static_cast<int>(length), static_cast<int>(tile_rows()),
                   [&](int begin, int end, int w) {
                     float* tile = workspace + w * per;
                     float* spill = tile + tile_rows() * kernel * out;
                     std::fill(spill, spill + tail * out, 0.0f);
                     // The last range owns its tail (nothing follows it).
                     const std::int64_t spill_row =
                         end == length ? never : static_cast<std::int64_t>(end) * stride;
                     transposed_range(*this, x, begin, end, full, tile, spill_row, spill);
                     ends[w] = end;
                   });
  for (int w = 0; w < workers; ++w) {
    const std::int64_t end = ends[w];
    if (end <= 0 || end >= length) continue;
    const float* spill = workspace + w * per + tile_rows() * kernel * out;
    float* dst = full + end * stride * out;
    for (std::int64_t i = 0; i < tail * out; ++i) dst[i] += spill[i];
  }
}

void ConvTranspose1d::phase_rows(const float* xp, std::int64_t n, float* y,
                                 rt::Parallel* parallel) const {
  const std::int64_t n_cols = static_cast<std::int64_t>(stride) * out_channels;
  // Stride-by-stride bias: column p * out + o of the product is output channel o.
  tiled_gemm(n, n_cols, 2 * static_cast<std::int64_t>(in_channels), xp, in_channels, weight.data(),
             phase_bias.data(), y, n_cols, false, parallel);
}

void ConvTranspose1d::forward(const float* x, std::int64_t length, std::vector<float>& y,
                              rt::Parallel* parallel) const {
  if (length == 0) {
    y.clear();
    return;
  }
  const std::int64_t full_len = (length - 1) * stride + kernel;
  std::vector<float> full(static_cast<std::size_t>(full_len * out_channels), 0.0f);
  if (layout == WeightLayout::kTiled) {
    // Input rows -1 .. length (zeros at both ends) give output blocks 0 .. length, which are
    // (length + 1) * stride = full_len rows (kernel = 2 * stride).
    std::vector<float> padded(static_cast<std::size_t>((length + 2) * in_channels), 0.0f);
    std::copy(x, x + length * in_channels, padded.begin() + in_channels);
    phase_rows(padded.data(), length + 1, full.data(), parallel);
  } else {
    std::vector<float> workspace(
        static_cast<std::size_t>(workspace_floats() * rt::parallel_size(parallel)));
    accumulate(x, length, full.data(), workspace.data(), parallel);
    add_bias(full.data(), full_len, out_channels, bias.data(), parallel);
  }
  if (!norm_weight.empty()) {
    group_norm_inplace(full.data(), full_len, out_channels, norm_weight.data(), norm_bias.data());
  }
  const std::int64_t out_len = full_len - padding_total();
  y.assign(full.begin() + padding_left() * out_channels,
           full.begin() + (padding_left() + out_len) * out_channels);
}

// ---- LSTM --------------------------------------------------------------------------------------

void Lstm::forward(const float* x, std::int64_t length, float* y, float* h, float* c,
                   float* workspace, rt::Parallel* parallel) const {
  const std::int64_t H = size;
  float* gates = workspace;                   // [length, 4H]
  float* inter = workspace + length * 4 * H;  // [length, H]: output of the current layer
  const bool half = !w_ih_f16.empty();
  const float* input = x;
  for (int l = 0; l < layers; ++l) {
    float* hl = h + l * H;
    float* cl = c + l * H;
    const float* b = bias[l].data();
    // Input projections of every step at once, then the recurrence step by step.
    if (half) {
      gemm_by_output_f16(length, 4 * H, H, input, H, w_ih_f16[l].data(), H, gates, 4 * H, false,
                         parallel);
    } else {
      gemm(length, 4 * H, H, input, H, w_ih[l].data(), H, true, gates, 4 * H, false, parallel);
    }
    float* out = (l == layers - 1) ? y : inter;
    for (std::int64_t t = 0; t < length; ++t) {
      float* g = gates + t * 4 * H;
      for (std::int64_t i = 0; i < 4 * H; ++i) g[i] += b[i];
      if (half) {
        gemm_by_output_f16(1, 4 * H, H, hl, H, w_hh_f16[l].data(), H, g, 4 * H, true, parallel);
      } else {
        gemv_accumulate(4 * H, H, w_hh[l].data(), H, hl, g, parallel);
      }
      float* ht = out + t * H;
      if (fast_gates) {
        lstm_cell_fast(g, H, cl, hl, ht);
        continue;
      }
      for (std::int64_t i = 0; i < H; ++i) {
        const float ig = sigmoid(g[i]);
        const float fg = sigmoid(g[H + i]);
        const float gg = std::tanh(g[2 * H + i]);
        const float og = sigmoid(g[3 * H + i]);
        cl[i] = fg * cl[i] + ig * gg;
        hl[i] = og * std::tanh(cl[i]);
        ht[i] = hl[i];
      }
    }
    // Layer l's output feeds layer l+1; when more layers follow, `inter` is both the input and
    // the output of the next layer, so the next layer reads it before writing (gates are
    // computed for all steps first).
    input = out;
  }
  for (std::int64_t i = 0; i < length * H; ++i) y[i] += x[i];
}

void Lstm::forward(const float* x, std::int64_t length, std::vector<float>& y,
                   rt::Parallel* parallel) const {
  y.assign(static_cast<std::size_t>(length * size), 0.0f);
  std::vector<float> h(static_cast<std::size_t>(layers) * size, 0.0f);
  std::vector<float> c(h.size(), 0.0f);
  std::vector<float> workspace(static_cast<std::size_t>(workspace_floats(length)));
  forward(x, length, y.data(), h.data(), c.data(), workspace.data(), parallel);
}

}  // namespace earshot::encodec
