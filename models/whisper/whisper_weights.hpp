// Whisper's weights, loaded from a Hugging Face `model.safetensors` under the published
// WhisperForConditionalGeneration key names, into budgeted memory.
//
// Every tensor's shape is checked against config.json before anything is reserved, and the whole
// plan is checked against the budget first, so a mismatched config, a 128-bin model fed the
// wrong file or a truncated file is refused with a message naming the tensor.
// Matrices keep the file's precision (F16 stays F16; BF16/F64 are widened to F32); vectors
// (biases, norms, positional tables) are F32.
#pragma once

#include "models/whisper/linear.hpp"
#include "models/whisper/special_token_ids.hpp"
#include "models/whisper/whisper_config.hpp"
#include "rt/memory_budget.hpp"

#include <filesystem>
#include <memory>
#include <vector>

namespace earshot::models::whisper {

struct VectorWeight {
  rt::Reservation storage;
  int size = 0;
  const float* data() const { return static_cast<const float*>(storage.data()); }
};

struct LinearWeight {
  WeightMatrix w;
  VectorWeight b;  // empty (size 0) for the bias-free key projections
  const float* bias() const { return b.size > 0 ? b.data() : nullptr; }
};

struct LayerNormWeight {
  VectorWeight gamma;
  VectorWeight beta;
};

struct AttentionWeight {
  LinearWeight q, k, v, out;
};

struct EncoderLayerWeight {
  LayerNormWeight attn_ln;
  AttentionWeight attn;
  LayerNormWeight mlp_ln;
  LinearWeight fc1, fc2;
};

struct DecoderLayerWeight {
  LayerNormWeight self_ln;
  AttentionWeight self_attn;
  LayerNormWeight cross_ln;
  AttentionWeight cross_attn;
  LayerNormWeight mlp_ln;
  LinearWeight fc1, fc2;
};

struct WhisperWeights {
  // Convolutions as matrices over im2col rows: conv1 [d, n_mels*3], conv2 [d, d*3].
  LinearWeight conv1, conv2;
  VectorWeight encoder_positions;  // [n_audio_ctx, d]
  std::vector<EncoderLayerWeight> encoder_layers;
  LayerNormWeight encoder_ln;
  WeightMatrix embed_tokens;       // [n_vocab, d]
  WeightMatrix proj_out;           // rows == 0 when tied to embed_tokens (the published layout)
  VectorWeight decoder_positions;  // [n_text_ctx, d]
  std::vector<DecoderLayerWeight> decoder_layers;
  LayerNormWeight decoder_ln;

  const WeightMatrix& output_projection() const {
    return proj_out.rows > 0 ? proj_out : embed_tokens;
  }
  bool any_f16() const;
};

// A loaded model: dimensions, special-token ids and weights.
struct WhisperModel {
  WhisperConfig config;
  SpecialTokenIds tokens;
  WhisperWeights weights;
  std::size_t weight_bytes = 0;

  // Loads `dir` (config.json, model.safetensors, generation_config.json when present).
  // Reserves the weights from `budget` under "whisper weights". Throws ConfigError,
  // WeightFileError or rt::BudgetExceeded with a clear message.
  static std::unique_ptr<WhisperModel> load(const std::filesystem::path& dir,
                                            rt::MemoryBudget& budget);
  // Builds random weights in memory from a config (benchmarks, tests): N(0, 1/fan_in) matrices,
  // small biases, unit norms. `f16` stores the matrices as F16.
  static std::unique_ptr<WhisperModel> random(const WhisperConfig& config, rt::MemoryBudget& budget,
                                              bool f16, unsigned seed);
};

}  // namespace earshot::models::whisper
