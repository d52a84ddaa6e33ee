// EnCodec's config.json (transformers' EncodecConfig), with the derived quantities the model needs.
#pragma once

#include <filesystem>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

namespace earshot::encodec {

enum class NormType { kWeightNorm, kTimeGroupNorm, kNone };

struct EncodecConfig {
  int audio_channels = 1;
  int sampling_rate = 24000;
  int num_filters = 32;
  int hidden_size = 128;
  int codebook_dim = 128;
  int codebook_size = 1024;
  int compress = 2;
  int dilation_growth_rate = 2;
  int kernel_size = 7;
  int last_kernel_size = 7;
  int residual_kernel_size = 3;
  int num_lstm_layers = 2;
  int num_residual_layers = 1;
  std::vector<int> upsampling_ratios = {8, 5, 4, 2};
  std::vector<double> target_bandwidths = {1.5, 3.0, 6.0, 12.0, 24.0};
  NormType norm_type = NormType::kWeightNorm;
  bool use_causal_conv = true;
  bool use_conv_shortcut = true;
  bool normalize = false;
  double trim_right_ratio = 1.0;
  double chunk_length_s = 0.0;  // 0: no chunking (the whole input is one chunk)
  double overlap = 0.0;

  // Samples per code frame: the product of the upsampling ratios (320 for the published models).
  int hop_length() const;
  // Code frames per second: ceil(sampling_rate / hop_length) (75 at 24 kHz, 150 at 48 kHz).
  int frame_rate() const;
  // The largest number of quantizers: that of the highest target bandwidth.
  int num_quantizers() const;
  // floor(bandwidth * 1000 / (frame_rate * 10)); throws std::invalid_argument unless `kbps` is one
  // of target_bandwidths.
  int quantizers_for_bandwidth(double kbps) const;
  // The bandwidth whose quantizer count is n_q; throws std::invalid_argument if none.
  double bandwidth_for_quantizers(int n_q) const;
  // Chunk length and stride in samples; 0 when the model does not chunk.
  int chunk_length() const;
  int chunk_stride() const;
  // Published names: "encodec_24khz" / "encodec_48khz" (used in the .ecdc header).
  std::string reference_name() const;

  // Small configs for tests: the published architecture with its widths.
  static EncodecConfig published_24khz();
};

// Parses and validates <dir>/config.json. Throws models::ConfigError naming the file and key.
EncodecConfig load_encodec_config(const std::filesystem::path& model_dir);
EncodecConfig parse_encodec_config(const nlohmann::json& json, const std::string& where);

}  // namespace earshot::encodec
