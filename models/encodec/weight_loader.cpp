#include "models/encodec/weight_loader.hpp"

#include "models/core/tiled_gemm.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace earshot::encodec {

using models::kTiledPanel;
using models::pack_tiled_weights;
using models::tiled_gemm;
namespace {
constexpr const char* kBudgetName = "encodec.weights";
}

Tensor WeightLoader::tensor(const std::string& name, std::vector<std::int64_t> shape) {
  return models::load_tensor_f32(file_, name, budget_, kBudgetName, shape);
}

Tensor WeightLoader::zeros(std::vector<std::int64_t> shape) {
  return Tensor(budget_, kBudgetName, std::move(shape));
}

std::vector<float> WeightLoader::conv_weight(const std::string& layer,
                                             std::vector<std::int64_t> shape) {
  std::int64_t numel = 1;
  for (auto d : shape) numel *= d;
  std::vector<float> w(static_cast<std::size_t>(numel));
  const std::string base = layer + ".conv.";
  std::string g_name = base + "weight_g";
  std::string v_name = base + "weight_v";
  if (!file_.contains(g_name) && !file_.contains(v_name)) {
    g_name = base + "parametrizations.weight.original0";
    v_name = base + "parametrizations.weight.original1";
  }
  const bool has_weight_norm = file_.contains(g_name) || file_.contains(v_name);
  if (!has_weight_norm) {
    if (norm_ == NormType::kWeightNorm && !file_.contains(base + "weight")) {
      throw models::WeightFileError(file_.label() + ": missing tensor '" + base + "weight_g' / '" +
                                    base + "weight_v' (weight-normed conv)");
    }
    file_.read_f32(base + "weight", w, shape);  // throws naming the tensor if missing/misshapen
    return w;
  }
  // v carries the direction, g one magnitude per slice along dim 0.
  file_.read_f32(v_name, w, shape);
  const std::int64_t rows = shape[0];
  const std::int64_t per_row = numel / rows;
  std::vector<float> g(static_cast<std::size_t>(rows));
  const std::int64_t g_shape[] = {rows, 1, 1};
  file_.read_f32(g_name, g, g_shape);
  for (std::int64_t r = 0; r < rows; ++r) {
    double sq = 0;
    for (std::int64_t i = 0; i < per_row; ++i)
      sq += double(w[r * per_row + i]) * w[r * per_row + i];
    const double norm = std::sqrt(sq);
    if (!(norm > 0) || !std::isfinite(norm) || !std::isfinite(g[r])) {
      throw models::WeightFileError(file_.label() + ": '" + v_name + "' slice " +
                                    std::to_string(r) + " has zero or non-finite norm");
    }
    // In float, as torch._weight_norm does (v * (g / |v|)), so the folded weights round the
    // same way as the reference's.
    const float scale = g[r] / static_cast<float>(norm);
    for (std::int64_t i = 0; i < per_row; ++i) w[r * per_row + i] *= scale;
  }
  return w;
}

void WeightLoader::load_norm(const std::string& layer, int channels, Tensor& weight, Tensor& bias) {
  if (norm_ != NormType::kTimeGroupNorm) return;
  weight = tensor(layer + ".norm.weight", {channels});
  bias = tensor(layer + ".norm.bias", {channels});
}

Conv1d WeightLoader::conv1d(const std::string& layer, int in, int out, int kernel, int stride,
                            int dilation, bool causal, WeightLayout layout) {
  Conv1d conv;
  conv.in_channels = in;
  conv.out_channels = out;
  conv.kernel = kernel;
  conv.stride = stride;
  conv.dilation = dilation;
  conv.causal = causal;
  conv.layout = layout;
  const bool by_output = layout == WeightLayout::kByOutput;
  const auto w = conv_weight(layer, {out, in, kernel});
  // [out, in, k] -> [k * in, out] so that a padded time-major input is the left operand, or
  // (by_output) [out, k * in].
  const std::int64_t k_in = static_cast<std::int64_t>(kernel) * in;
  conv.weight = by_output ? Tensor(budget_, kBudgetName, {out, k_in})
                          : Tensor(budget_, kBudgetName, {k_in, out});
  float* dst = conv.weight.data();
  for (int o = 0; o < out; ++o) {
    for (int c = 0; c < in; ++c) {
      for (int j = 0; j < kernel; ++j) {
        const std::int64_t col = static_cast<std::int64_t>(j) * in + c;
        dst[by_output ? o * k_in + col : col * out + o] =
            w[(static_cast<std::int64_t>(o) * in + c) * kernel + j];
      }
    }
  }
  if (layout == WeightLayout::kTiled) {
    const std::vector<float> plain(conv.weight.span().begin(), conv.weight.span().end());
    pack_tiled_weights(k_in, out, plain.data(), out, conv.weight.data());
  }
  conv.bias = tensor(layer + ".conv.bias", {out});
  load_norm(layer, out, conv.norm_weight, conv.norm_bias);
  return conv;
}

ConvTranspose1d WeightLoader::conv_transpose1d(const std::string& layer, int in, int out,
                                               int kernel, int stride, bool causal,
                                               double trim_right_ratio, WeightLayout layout) {
  ConvTranspose1d conv;
  conv.in_channels = in;
  conv.out_channels = out;
  conv.kernel = kernel;
  conv.stride = stride;
  conv.causal = causal;
  conv.trim_right_ratio = trim_right_ratio;
  conv.layout = layout;
  const auto w = conv_weight(layer, {in, out, kernel});
  auto tap = [&](int c, int o, int j) {
    return w[(static_cast<std::int64_t>(c) * out + o) * kernel + j];
  };
  conv.bias = tensor(layer + ".conv.bias", {out});
  load_norm(layer, out, conv.norm_weight, conv.norm_bias);
  if (layout == WeightLayout::kTiled) {
    if (kernel != 2 * stride) {
      throw std::invalid_argument(layer + ": the phase layout needs kernel == 2 * stride (kernel " +
                                  std::to_string(kernel) + ", stride " + std::to_string(stride) +
                                  ")");
    }
    // [2 * in, stride * out]: row c is the previous input's tap p + stride, row in + c the
    // current input's tap p, in column p * out + o (layers.hpp).
    const std::int64_t cols = static_cast<std::int64_t>(stride) * out;
    conv.weight = Tensor(budget_, kBudgetName, {2 * static_cast<std::int64_t>(in), cols});
    float* dst = conv.weight.data();
    for (int c = 0; c < in; ++c) {
      for (int p = 0; p < stride; ++p) {
        for (int o = 0; o < out; ++o) {
          dst[c * cols + p * out + o] = tap(c, o, p + stride);
          dst[(static_cast<std::int64_t>(in) + c) * cols + p * out + o] = tap(c, o, p);
        }
      }
    }
    const std::vector<float> plain(conv.weight.span().begin(), conv.weight.span().end());
    pack_tiled_weights(2 * static_cast<std::int64_t>(in), cols, plain.data(), cols,
                       conv.weight.data());
    conv.phase_bias = Tensor(budget_, kBudgetName, {cols});
    for (int p = 0; p < stride; ++p) {
      std::copy(conv.bias.data(), conv.bias.data() + out, conv.phase_bias.data() + p * out);
    }
    return conv;
  }
  // [in, out, k] -> [in, k * out]: one input step yields `kernel` consecutive output rows; or
  // (by_output) [k * out, in].
  const bool by_output = layout == WeightLayout::kByOutput;
  const std::int64_t k_out = static_cast<std::int64_t>(kernel) * out;
  conv.weight = by_output ? Tensor(budget_, kBudgetName, {k_out, in})
                          : Tensor(budget_, kBudgetName, {in, k_out});
  float* dst = conv.weight.data();
  for (int c = 0; c < in; ++c) {
    for (int o = 0; o < out; ++o) {
      for (int j = 0; j < kernel; ++j) {
        const std::int64_t col = static_cast<std::int64_t>(j) * out + o;
        dst[by_output ? col * in + c : c * k_out + col] = tap(c, o, j);
      }
    }
  }
  return conv;
}

Lstm WeightLoader::lstm(const std::string& layer, int size, int layers) {
  Lstm lstm;
  lstm.size = size;
  lstm.layers = layers;
  const std::string base = layer + ".lstm.";
  for (int l = 0; l < layers; ++l) {
    const std::string s = std::to_string(l);
    lstm.w_ih.push_back(tensor(base + "weight_ih_l" + s, {4 * size, size}));
    lstm.w_hh.push_back(tensor(base + "weight_hh_l" + s, {4 * size, size}));
    Tensor b = tensor(base + "bias_ih_l" + s, {4 * size});
    const Tensor b_hh = tensor(base + "bias_hh_l" + s, {4 * size});
    for (int i = 0; i < 4 * size; ++i) b.data()[i] += b_hh.data()[i];
    lstm.bias.push_back(std::move(b));
  }
  return lstm;
}

}  // namespace earshot::encodec
