#include "models/encodec/layers.hpp"

#include "models/encodec/gemm.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace earshot::encodec {
namespace {

// Upper bound of one im2col / col2im tile, in floats (256 KiB).
constexpr std::int64_t kTileFloats = 1 << 16;

inline float sigmoid(float x) {
  return 1.0f / (1.0f + std::exp(-x));
}

}  // namespace

// Scalar expm1 (glibc, within 1 ulp) on purpose: torch's ELU is a 1-ulp expm1 too, and a
// faster few-ulp variant (Kahan's formula on vectorized exp/log) perturbed the encoder output
// enough to flip 24 kbps codes whose reference margin is just above 1e-4 (stage 27, frame 63).
void elu_inplace(float* x, std::int64_t n) {
  for (std::int64_t i = 0; i < n; ++i) {
    if (x[i] <= 0.0f) x[i] = std::expm1(x[i]);
  }
}

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

void Conv1d::valid(const float* xp, std::int64_t n_out, float* y, float* workspace) const {
  const std::int64_t k_in = static_cast<std::int64_t>(kernel) * in_channels;
  if (dilation == 1) {
    // Output t reads rows [t * stride, t * stride + kernel): one contiguous block.
    gemm(n_out, out_channels, k_in, xp, static_cast<std::int64_t>(stride) * in_channels,
         weight.data(), out_channels, false, y, out_channels, false);
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
      gemm(nt, out_channels, k_in, workspace, k_in, weight.data(), out_channels, false,
           y + t0 * out_channels, out_channels, false);
    }
  }
  const float* b = bias.data();
  for (std::int64_t t = 0; t < n_out; ++t) {
    float* row = y + t * out_channels;
    for (int o = 0; o < out_channels; ++o) row[o] += b[o];
  }
}

void Conv1d::forward(const float* x, std::int64_t length, std::vector<float>& y) const {
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
  valid(padded.data(), n_out, y.data(), workspace.data());
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

void ConvTranspose1d::accumulate(const float* x, std::int64_t length, float* full,
                                 float* workspace) const {
  const std::int64_t k_out = static_cast<std::int64_t>(kernel) * out_channels;
  const std::int64_t rows = tile_rows();
  for (std::int64_t t0 = 0; t0 < length; t0 += rows) {
    const std::int64_t nt = std::min(rows, length - t0);
    gemm(nt, k_out, in_channels, x + t0 * in_channels, in_channels, weight.data(), k_out, false,
         workspace, k_out, false);
    // col2im: input step t adds kernel rows starting at output row t * stride.
    for (std::int64_t t = 0; t < nt; ++t) {
      float* dst = full + (t0 + t) * stride * out_channels;
      const float* src = workspace + t * k_out;
      for (std::int64_t i = 0; i < k_out; ++i) dst[i] += src[i];
    }
  }
}

void ConvTranspose1d::forward(const float* x, std::int64_t length, std::vector<float>& y) const {
  if (length == 0) {
    y.clear();
    return;
  }
  const std::int64_t full_len = (length - 1) * stride + kernel;
  std::vector<float> full(static_cast<std::size_t>(full_len * out_channels), 0.0f);
  std::vector<float> workspace(static_cast<std::size_t>(workspace_floats()));
  accumulate(x, length, full.data(), workspace.data());
  const float* b = bias.data();
  for (std::int64_t t = 0; t < full_len; ++t) {
    for (int o = 0; o < out_channels; ++o) full[t * out_channels + o] += b[o];
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
                   float* workspace) const {
  const std::int64_t H = size;
  float* gates = workspace;                   // [length, 4H]
  float* inter = workspace + length * 4 * H;  // [length, H]: output of the current layer
  const float* input = x;
  for (int l = 0; l < layers; ++l) {
    float* hl = h + l * H;
    float* cl = c + l * H;
    // Input projections of every step at once, then the recurrence step by step.
    gemm(length, 4 * H, H, input, H, w_ih[l].data(), H, true, gates, 4 * H, false);
    const float* b = bias[l].data();
    float* out = (l == layers - 1) ? y : inter;
    for (std::int64_t t = 0; t < length; ++t) {
      float* g = gates + t * 4 * H;
      for (std::int64_t i = 0; i < 4 * H; ++i) g[i] += b[i];
      gemv_accumulate(4 * H, H, w_hh[l].data(), H, hl, g);
      float* ht = out + t * H;
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

void Lstm::forward(const float* x, std::int64_t length, std::vector<float>& y) const {
  y.assign(static_cast<std::size_t>(length * size), 0.0f);
  std::vector<float> h(static_cast<std::size_t>(layers) * size, 0.0f);
  std::vector<float> c(h.size(), 0.0f);
  std::vector<float> workspace(static_cast<std::size_t>(workspace_floats(length)));
  forward(x, length, y.data(), h.data(), c.data(), workspace.data());
}

}  // namespace earshot::encodec
