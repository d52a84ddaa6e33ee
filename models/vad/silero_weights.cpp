#include "models/vad/silero_weights.hpp"

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

SileroWeights load_silero_weights(const std::filesystem::path& path, rt::MemoryBudget& budget) {
  return load_silero_weights_safetensors(path, budget);
}

}  // namespace earshot::models::vad
