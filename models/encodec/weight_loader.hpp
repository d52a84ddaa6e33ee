// Reads EnCodec's layers from a Hugging Face model.safetensors into budgeted tensors.
//
// Weight-normed convolutions are stored as <conv>.weight_g / <conv>.weight_v (the published
// checkpoints) or <conv>.parametrizations.weight.original0 / original1 (current transformers);
// both spellings are accepted and the norm is folded at load: w = g * v / |v|, the norm taken
// over every axis but the first (the output channel of a Conv1d, the INPUT channel of a
// ConvTranspose1d, whose weight is [in, out, k]). time_group_norm models store a plain
// <conv>.weight plus <layer>.norm.{weight,bias}.
#pragma once

#include "models/core/safetensors.hpp"
#include "models/encodec/encodec_config.hpp"
#include "models/encodec/layers.hpp"
#include "rt/memory_budget.hpp"

#include <string>

namespace earshot::encodec {

class WeightLoader {
 public:
  WeightLoader(const models::SafetensorsFile& file, rt::MemoryBudget& budget, NormType norm)
      : file_(file), budget_(budget), norm_(norm) {}

  // `layer` is the module path without ".conv", e.g. "encoder.layers.0" or
  // "encoder.layers.1.block.1".
  // `layout`: how the weights are stored (layers.hpp). A kTiled transposed convolution needs
  // kernel == 2 * stride (EnCodec's), else std::invalid_argument.
  Conv1d conv1d(const std::string& layer, int in, int out, int kernel, int stride, int dilation,
                bool causal, WeightLayout layout = WeightLayout::kByInput);
  ConvTranspose1d conv_transpose1d(const std::string& layer, int in, int out, int kernel,
                                   int stride, bool causal, double trim_right_ratio,
                                   WeightLayout layout = WeightLayout::kByInput);
  // `layer` e.g. "encoder.layers.13" (tensors under <layer>.lstm).
  Lstm lstm(const std::string& layer, int size, int layers);
  // A tensor with an exact expected shape.
  Tensor tensor(const std::string& name, std::vector<std::int64_t> shape);
  // A zero-filled tensor reserved under the weights' budget name (derived tables).
  Tensor zeros(std::vector<std::int64_t> shape);

 private:
  // The conv weight with weight norm folded, in PyTorch's layout (dim 0 first).
  std::vector<float> conv_weight(const std::string& layer, std::vector<std::int64_t> shape);
  void load_norm(const std::string& layer, int channels, Tensor& weight, Tensor& bias);

  const models::SafetensorsFile& file_;
  rt::MemoryBudget& budget_;
  NormType norm_;
};

}  // namespace earshot::encodec
