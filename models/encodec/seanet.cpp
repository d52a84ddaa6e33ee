#include "models/encodec/seanet.hpp"

#include <string>

namespace earshot::encodec {
namespace {

std::string layer_name(const char* part, int index) {
  return std::string(part) + ".layers." + std::to_string(index);
}

ResidualBlock load_block(WeightLoader& loader, const EncodecConfig& config, const std::string& name,
                         int channels, int dilation, WeightLayout layout) {
  const bool causal = config.use_causal_conv;
  const int hidden = channels / config.compress;
  ResidualBlock block;
  block.conv1 = loader.conv1d(name + ".block.1", channels, hidden, config.residual_kernel_size, 1,
                              dilation, causal, layout);
  block.conv2 = loader.conv1d(name + ".block.3", hidden, channels, 1, 1, 1, causal, layout);
  block.has_shortcut = config.use_conv_shortcut;
  if (block.has_shortcut) {
    block.shortcut = loader.conv1d(name + ".shortcut", channels, channels, 1, 1, 1, causal, layout);
  }
  return block;
}

int ipow(int base, int exp) {
  int r = 1;
  for (int i = 0; i < exp; ++i) r *= base;
  return r;
}

}  // namespace

void ResidualBlock::forward(const std::vector<float>& x, std::int64_t length, std::vector<float>& y,
                            rt::Parallel* parallel) const {
  std::vector<float> a = x;
  elu_inplace(a.data(), static_cast<std::int64_t>(a.size()), parallel, elu);
  std::vector<float> b;
  conv1.forward(a.data(), length, b, parallel);
  elu_inplace(b.data(), static_cast<std::int64_t>(b.size()), parallel, elu);
  conv2.forward(b.data(), length, y, parallel);
  if (has_shortcut) {
    shortcut.forward(x.data(), length, a, parallel);
    for (std::size_t i = 0; i < y.size(); ++i) y[i] += a[i];
  } else {
    for (std::size_t i = 0; i < y.size(); ++i) y[i] += x[i];
  }
}

SeanetEncoder SeanetEncoder::load(WeightLoader& loader, const EncodecConfig& c) {
  const bool causal = c.use_causal_conv;
  SeanetEncoder enc;
  int index = 0;
  enc.first = loader.conv1d(layer_name("encoder", index++), c.audio_channels, c.num_filters,
                            c.kernel_size, 1, 1, causal);
  int scaling = 1;
  for (auto it = c.upsampling_ratios.rbegin(); it != c.upsampling_ratios.rend(); ++it) {
    const int ratio = *it;
    const int channels = scaling * c.num_filters;
    EncoderStage stage;
    for (int j = 0; j < c.num_residual_layers; ++j) {
      stage.blocks.push_back(load_block(loader, c, layer_name("encoder", index++), channels,
                                        ipow(c.dilation_growth_rate, j), WeightLayout::kByInput));
    }
    ++index;  // ELU
    stage.down = loader.conv1d(layer_name("encoder", index++), channels, channels * 2, ratio * 2,
                               ratio, 1, causal);
    enc.stages.push_back(std::move(stage));
    scaling *= 2;
  }
  enc.lstm =
      loader.lstm(layer_name("encoder", index++), scaling * c.num_filters, c.num_lstm_layers);
  ++index;  // ELU
  enc.last = loader.conv1d(layer_name("encoder", index++), scaling * c.num_filters, c.hidden_size,
                           c.last_kernel_size, 1, 1, causal);
  return enc;
}

std::vector<float> SeanetEncoder::forward(const float* audio, std::int64_t length,
                                          rt::Parallel* parallel) const {
  std::vector<float> x;
  std::vector<float> y;
  first.forward(audio, length, x, parallel);
  for (const auto& stage : stages) {
    for (const auto& block : stage.blocks) {
      block.forward(x, length, y, parallel);
      x.swap(y);
    }
    elu_inplace(x.data(), static_cast<std::int64_t>(x.size()), parallel);
    stage.down.forward(x.data(), length, y, parallel);
    length = stage.down.output_length(length);
    x.swap(y);
  }
  lstm.forward(x.data(), length, y, parallel);
  elu_inplace(y.data(), static_cast<std::int64_t>(y.size()), parallel);
  last.forward(y.data(), length, x, parallel);
  return x;
}

SeanetDecoder SeanetDecoder::load(WeightLoader& loader, const EncodecConfig& c) {
  const bool causal = c.use_causal_conv;
  SeanetDecoder dec;
  int index = 0;
  int scaling = ipow(2, static_cast<int>(c.upsampling_ratios.size()));
  // Weight layouts (layers.hpp). The first conv and the first transposed conv hold most of the
  // convolution weights (1.8 + 8.4 MB at full size) and see only a push's few frames: stored by
  // output, streamed once per push. Every later layer sees stride-multiplied rows through small
  // weights: register-tiled, transposed convs in phase form. The last conv has one or two
  // outputs: dot products (by output).
  constexpr auto kStream = WeightLayout::kByOutput;
  constexpr auto kTiled = WeightLayout::kTiled;
  dec.first = loader.conv1d(layer_name("decoder", index++), c.hidden_size, scaling * c.num_filters,
                            c.kernel_size, 1, 1, causal, kStream);
  dec.lstm =
      loader.lstm(layer_name("decoder", index++), scaling * c.num_filters, c.num_lstm_layers);
  dec.lstm.fast_gates = true;
  for (int ratio : c.upsampling_ratios) {
    const int channels = scaling * c.num_filters;
    DecoderStage stage;
    ++index;  // ELU
    stage.up = loader.conv_transpose1d(layer_name("decoder", index++), channels, channels / 2,
                                       ratio * 2, ratio, causal, c.trim_right_ratio,
                                       dec.stages.empty() ? kStream : kTiled);
    for (int j = 0; j < c.num_residual_layers; ++j) {
      stage.blocks.push_back(load_block(loader, c, layer_name("decoder", index++), channels / 2,
                                        ipow(c.dilation_growth_rate, j), kTiled));
      stage.blocks.back().elu = EluMode::kFast;
    }
    dec.stages.push_back(std::move(stage));
    scaling /= 2;
  }
  ++index;  // ELU
  dec.last = loader.conv1d(layer_name("decoder", index++), c.num_filters, c.audio_channels,
                           c.last_kernel_size, 1, 1, causal, kStream);
  return dec;
}

std::vector<float> SeanetDecoder::forward(const float* embeddings, std::int64_t frames,
                                          rt::Parallel* parallel) const {
  std::vector<float> x;
  std::vector<float> y;
  std::int64_t length = frames;
  first.forward(embeddings, length, x, parallel);
  lstm.forward(x.data(), length, y, parallel);
  x.swap(y);
  for (const auto& stage : stages) {
    elu_inplace(x.data(), static_cast<std::int64_t>(x.size()), parallel, EluMode::kFast);
    stage.up.forward(x.data(), length, y, parallel);
    length *= stage.up.stride;
    x.swap(y);
    for (const auto& block : stage.blocks) {
      block.forward(x, length, y, parallel);
      x.swap(y);
    }
  }
  elu_inplace(x.data(), static_cast<std::int64_t>(x.size()), parallel, EluMode::kFast);
  last.forward(x.data(), length, y, parallel);
  return y;
}

void SeanetDecoder::store_streamed_weights_f16(rt::MemoryBudget& budget) {
  if (streamed_weights_f16()) return;
  const std::string name = "encodec.weights";
  auto convert = [&](Tensor& weight, HalfWeights& half) {
    half = HalfWeights::from(weight.data(), weight.dim(0), weight.numel() / weight.dim(0), budget,
                             name);
    weight = Tensor();
  };
  convert(first.weight, first.weight_f16);
  if (!stages.empty() && stages[0].up.layout == WeightLayout::kByOutput) {
    convert(stages[0].up.weight, stages[0].up.weight_f16);
  }
  for (auto& w : lstm.w_ih) {
    lstm.w_ih_f16.push_back(HalfWeights::from(w.data(), w.dim(0), w.dim(1), budget, name));
  }
  for (auto& w : lstm.w_hh) {
    lstm.w_hh_f16.push_back(HalfWeights::from(w.data(), w.dim(0), w.dim(1), budget, name));
  }
  lstm.w_ih.clear();
  lstm.w_hh.clear();
}

}  // namespace earshot::encodec
