// The dimensions of a Whisper model, read from a Hugging Face `config.json`.
//
// Field names are transformers' WhisperConfig names (d_model, encoder_layers, num_mel_bins, ...).
// Sizes tiny to large-v3-turbo differ only in these numbers (turbo: 32 encoder, 4 decoder layers).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace earshot::models::whisper {

struct WhisperConfig {
  int n_mels = 80;         // num_mel_bins: 80, or 128 for large-v3
  int n_vocab = 51865;     // vocab_size: 51864 (.en), 51865, 51866 (v3)
  int n_audio_ctx = 1500;  // max_source_positions: encoder frames per 30 s window
  int n_text_ctx = 448;    // max_target_positions
  int d_model = 384;       // width of encoder and decoder
  int encoder_layers = 4;
  int decoder_layers = 4;
  int encoder_heads = 6;
  int decoder_heads = 6;
  int encoder_ffn = 1536;
  int decoder_ffn = 1536;
  std::string dtype = "float32";           // "dtype" (transformers >= 4.56) or "torch_dtype"
  std::vector<int> suppress_tokens;        // suppressed at every step
  std::vector<int> begin_suppress_tokens;  // suppressed at the first sampled step
  std::string source = "<config>";         // file name for error messages

  // Reads `dir/config.json`. Throws ConfigError naming the file and key.
  static WhisperConfig load(const std::filesystem::path& dir);
  // Parses an already-read JSON text (for tests); `source` labels errors.
  static WhisperConfig parse(const std::string& json_text, const std::string& source);

  // Throws ConfigError if a dimension is out of range or heads do not divide d_model.
  void validate() const;

  int encoder_head_dim() const { return d_model / encoder_heads; }
  int decoder_head_dim() const { return d_model / decoder_heads; }
  // Mel frames the encoder consumes per window (conv2 has stride 2).
  int n_mel_frames() const { return 2 * n_audio_ctx; }
};

}  // namespace earshot::models::whisper
