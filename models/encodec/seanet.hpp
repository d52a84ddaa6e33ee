// SEANet encoder and decoder (EnCodec's convolutional autoencoder), following transformers'
// EncodecEncoder / EncodecDecoder module by module:
//
//   encoder: conv k7 -> [resblock x R, ELU, down conv (2r, stride r)] for r in reversed(ratios)
//            -> LSTM (+skip) -> ELU -> conv k_last -> hidden
//   decoder: conv k7 -> LSTM (+skip) -> [ELU, transposed conv (2r, stride r), resblock x R]
//            for r in ratios -> ELU -> conv k_last -> audio
//   resblock: y = shortcut(x) + conv1x1(ELU(conv_k(ELU(x)))), channels C -> C/compress -> C
#pragma once

#include "models/encodec/encodec_config.hpp"
#include "models/encodec/layers.hpp"
#include "models/encodec/weight_loader.hpp"

#include <vector>

namespace earshot::encodec {

struct ResidualBlock {
  Conv1d conv1;     // residual_kernel_size, dilation, C -> C / compress (after ELU)
  Conv1d conv2;     // kernel 1, C / compress -> C (after ELU)
  Conv1d shortcut;  // kernel 1, C -> C; empty weight when use_conv_shortcut is false (identity)
  bool has_shortcut = true;
  EluMode elu = EluMode::kExact;  // decoder blocks: kFast (see layers.hpp)

  // Offline: x [length, C] -> y [length, C].
  void forward(const std::vector<float>& x, std::int64_t length, std::vector<float>& y,
               rt::Parallel* parallel = nullptr) const;
};

struct EncoderStage {
  std::vector<ResidualBlock> blocks;
  Conv1d down;
};

struct DecoderStage {
  ConvTranspose1d up;
  std::vector<ResidualBlock> blocks;
};

struct SeanetEncoder {
  Conv1d first;
  std::vector<EncoderStage> stages;
  Lstm lstm;
  Conv1d last;

  static SeanetEncoder load(WeightLoader& loader, const EncodecConfig& config);
  // audio [length, channels] -> embeddings [ceil(length / hop), hidden].
  std::vector<float> forward(const float* audio, std::int64_t length,
                             rt::Parallel* parallel = nullptr) const;
};

struct SeanetDecoder {
  Conv1d first;
  Lstm lstm;
  std::vector<DecoderStage> stages;
  Conv1d last;

  static SeanetDecoder load(WeightLoader& loader, const EncodecConfig& config);
  // Opt-in reduced precision: the layers that stream their weights at every push (first conv,
  // LSTM, first transposed conv: 27 of the published model's 29.7 MB) keep them as IEEE half
  // instead of float (rounded to nearest; products and sums stay float), and their float copies
  // are released. Halves the bytes a one-frame push reads. Not exact: the error against the
  // fixtures is measured in tests/encodec/f16_weights_test.cpp. Call before decoding.
  void store_streamed_weights_f16(rt::MemoryBudget& budget);
  bool streamed_weights_f16() const { return !lstm.w_ih_f16.empty(); }
  // embeddings [frames, hidden] -> audio [frames * hop, channels].
  std::vector<float> forward(const float* embeddings, std::int64_t frames,
                             rt::Parallel* parallel = nullptr) const;
};

}  // namespace earshot::encodec
