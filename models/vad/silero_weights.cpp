#include "models/vad/silero_weights.hpp"

#include "models/core/onnx_file.hpp"
#include "models/core/safetensors.hpp"

#include <array>
#include <functional>
#include <string>
#include <vector>

namespace earshot::models::vad {
namespace {

// Reads tensor `key` (a safetensors key name) of `shape` into `dst`.
using TensorReader = std::function<void(const std::string& key, std::span<float> dst,
                                        std::span<const std::int64_t> shape)>;

Tensor read_tensor(const TensorReader& read, rt::MemoryBudget& budget, const std::string& key,
                   std::vector<std::int64_t> shape) {
  Tensor t(budget, "vad.weights", shape);
  read(key, t.span(), shape);
  return t;
}

SileroWeights read_all(const TensorReader& read, rt::MemoryBudget& budget) {
  SileroWeights w;
  w.stft_basis = read_tensor(read, budget, "stft_conv.weight", {2 * kBins, 1, kFftSize});
  // Encoder: 129 -> 128 -> 64 (stride 2) -> 64 (stride 2) -> 128.
  constexpr std::array<std::array<int, 3>, 4> kConvs{
      {{kBins, 128, 1}, {128, 64, 2}, {64, 64, 2}, {64, kHidden, 1}}};
  for (int i = 0; i < 4; ++i) {
    auto& c = w.conv[i];
    c.in = kConvs[i][0];
    c.out = kConvs[i][1];
    c.stride = kConvs[i][2];
    const std::string prefix = "conv" + std::to_string(i + 1);
    c.weight = read_tensor(read, budget, prefix + ".weight", {c.out, c.in, 3});
    c.bias = read_tensor(read, budget, prefix + ".bias", {c.out});
  }
  w.lstm_w_ih = read_tensor(read, budget, "lstm_cell.weight_ih", {4 * kHidden, kHidden});
  w.lstm_w_hh = read_tensor(read, budget, "lstm_cell.weight_hh", {4 * kHidden, kHidden});
  w.lstm_b_ih = read_tensor(read, budget, "lstm_cell.bias_ih", {4 * kHidden});
  w.lstm_b_hh = read_tensor(read, budget, "lstm_cell.bias_hh", {4 * kHidden});
  w.final_w = read_tensor(read, budget, "final_conv.weight", {1, kHidden, 1});
  w.final_b = read_tensor(read, budget, "final_conv.bias", {1});
  return w;
}

}  // namespace

std::size_t SileroWeights::bytes() const {
  std::size_t n = stft_basis.bytes() + lstm_w_ih.bytes() + lstm_w_hh.bytes() + lstm_b_ih.bytes() +
                  lstm_b_hh.bytes() + final_w.bytes() + final_b.bytes();
  for (const auto& c : conv) n += c.weight.bytes() + c.bias.bytes();
  return n;
}

SileroWeights load_silero_weights_safetensors(const std::filesystem::path& path,
                                              rt::MemoryBudget& budget) {
  const auto file = SafetensorsFile::open(path);
  return read_all([&](const std::string& key, std::span<float> dst,
                      std::span<const std::int64_t> shape) { file.read_f32(key, dst, shape); },
                  budget);
}

std::string onnx_module_name(const std::string& key) {
  // conv1..conv4 are the encoder's four re-parameterised convolutions.
  if (key.rfind("conv", 0) == 0 && key.size() > 5 && key[5] == '.') {
    return "encoder." + std::to_string(key[4] - '1') + ".reparam_conv" + key.substr(5);
  }
  if (key == "stft_conv.weight") return "stft.forward_basis_buffer";
  if (key.rfind("lstm_cell.", 0) == 0) return "decoder.rnn." + key.substr(10);
  if (key.rfind("final_conv.", 0) == 0) return "decoder.decoder.2." + key.substr(11);
  return key;
}

SileroWeights load_silero_weights_onnx(const std::filesystem::path& path,
                                       rt::MemoryBudget& budget) {
  const auto file = OnnxFile::open(path);
  return read_all(
      [&](const std::string& key, std::span<float> dst, std::span<const std::int64_t> shape) {
        const std::string module = onnx_module_name(key);
        // The official export inlines the 16 kHz model as the top-level If's then_branch; a
        // plainer export may keep the module names as initializers.
        const std::string inlined = std::string(kOnnx16kPrefix) + module;
        file.read_f32(file.contains(inlined) || !file.contains(module) ? inlined : module, dst,
                      shape);
      },
      budget);
}

SileroWeights load_silero_weights(const std::filesystem::path& path, rt::MemoryBudget& budget) {
  if (path.extension() == ".onnx") return load_silero_weights_onnx(path, budget);
  return load_silero_weights_safetensors(path, budget);
}

}  // namespace earshot::models::vad
