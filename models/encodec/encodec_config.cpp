#include "models/encodec/encodec_config.hpp"

#include "models/core/json_file.hpp"

#include <cmath>
#include <stdexcept>

namespace earshot::encodec {

using models::ConfigError;
using models::json_get;
using models::json_get_or;

int EncodecConfig::hop_length() const {
  int hop = 1;
  for (int r : upsampling_ratios) hop *= r;
  return hop;
}

int EncodecConfig::frame_rate() const {
  return static_cast<int>(std::ceil(static_cast<double>(sampling_rate) / hop_length()));
}

int EncodecConfig::num_quantizers() const {
  double best = 0;
  for (double b : target_bandwidths) best = std::max(best, b);
  return static_cast<int>(std::floor(best * 1000.0 / (frame_rate() * 10)));
}

int EncodecConfig::quantizers_for_bandwidth(double kbps) const {
  for (double b : target_bandwidths) {
    if (std::abs(b - kbps) < 1e-9)
      return static_cast<int>(std::floor(b * 1000.0 / (frame_rate() * 10)));
  }
  std::string list;
  for (double b : target_bandwidths) list += (list.empty() ? "" : ", ") + std::to_string(b);
  throw std::invalid_argument("bandwidth " + std::to_string(kbps) +
                              " kbps is not one of the model's target bandwidths (" + list + ")");
}

double EncodecConfig::bandwidth_for_quantizers(int n_q) const {
  for (double b : target_bandwidths) {
    if (quantizers_for_bandwidth(b) == n_q) return b;
  }
  throw std::invalid_argument(std::to_string(n_q) +
                              " codebooks does not match any target bandwidth of the model");
}

int EncodecConfig::chunk_length() const {
  if (chunk_length_s <= 0) return 0;
  return static_cast<int>(chunk_length_s * sampling_rate);
}

int EncodecConfig::chunk_stride() const {
  if (chunk_length_s <= 0 || overlap <= 0) return chunk_length();
  return std::max(1, static_cast<int>((1.0 - overlap) * chunk_length()));
}

std::string EncodecConfig::reference_name() const {
  return "encodec_" + std::to_string(sampling_rate / 1000) + "khz";
}

EncodecConfig EncodecConfig::published_24khz() {
  return EncodecConfig{};
}

EncodecConfig parse_encodec_config(const nlohmann::json& j, const std::string& where) {
  if (!j.is_object()) throw ConfigError(where + ": expected a JSON object");
  EncodecConfig c;
  c.audio_channels = json_get<int>(j, "audio_channels", where);
  c.sampling_rate = json_get<int>(j, "sampling_rate", where);
  c.num_filters = json_get<int>(j, "num_filters", where);
  c.hidden_size = json_get<int>(j, "hidden_size", where);
  c.codebook_dim = json_get_or<int>(j, "codebook_dim", c.hidden_size, where);
  c.codebook_size = json_get<int>(j, "codebook_size", where);
  c.compress = json_get_or<int>(j, "compress", 2, where);
  c.dilation_growth_rate = json_get_or<int>(j, "dilation_growth_rate", 2, where);
  c.kernel_size = json_get_or<int>(j, "kernel_size", 7, where);
  c.last_kernel_size = json_get_or<int>(j, "last_kernel_size", 7, where);
  c.residual_kernel_size = json_get_or<int>(j, "residual_kernel_size", 3, where);
  c.num_lstm_layers = json_get_or<int>(j, "num_lstm_layers", 2, where);
  c.num_residual_layers = json_get_or<int>(j, "num_residual_layers", 1, where);
  c.upsampling_ratios = json_get<std::vector<int>>(j, "upsampling_ratios", where);
  c.target_bandwidths = json_get<std::vector<double>>(j, "target_bandwidths", where);
  const auto norm = json_get_or<std::string>(j, "norm_type", "weight_norm", where);
  if (norm == "weight_norm") {
    c.norm_type = NormType::kWeightNorm;
  } else if (norm == "time_group_norm") {
    c.norm_type = NormType::kTimeGroupNorm;
  } else if (norm == "none" || norm.empty()) {
    c.norm_type = NormType::kNone;
  } else {
    throw ConfigError(where + ": unsupported norm_type '" + norm + "'");
  }
  c.use_causal_conv = json_get_or<bool>(j, "use_causal_conv", true, where);
  c.use_conv_shortcut = json_get_or<bool>(j, "use_conv_shortcut", true, where);
  c.normalize = json_get_or<bool>(j, "normalize", false, where);
  c.trim_right_ratio = json_get_or<double>(j, "trim_right_ratio", 1.0, where);
  c.chunk_length_s = json_get_or<double>(j, "chunk_length_s", 0.0, where);
  c.overlap = json_get_or<double>(j, "overlap", 0.0, where);
  const auto pad_mode = json_get_or<std::string>(j, "pad_mode", "reflect", where);
  if (pad_mode != "reflect") throw ConfigError(where + ": only pad_mode 'reflect' is supported");

  auto positive = [&](int v, const char* key) {
    if (v <= 0 || v > 65536) throw ConfigError(where + ": '" + key + "' is out of range");
  };
  positive(c.audio_channels, "audio_channels");
  positive(c.sampling_rate, "sampling_rate");
  positive(c.num_filters, "num_filters");
  positive(c.hidden_size, "hidden_size");
  positive(c.codebook_dim, "codebook_dim");
  positive(c.codebook_size, "codebook_size");
  positive(c.compress, "compress");
  positive(c.kernel_size, "kernel_size");
  positive(c.last_kernel_size, "last_kernel_size");
  positive(c.residual_kernel_size, "residual_kernel_size");
  positive(c.num_lstm_layers, "num_lstm_layers");
  if (c.num_residual_layers < 0 || c.num_residual_layers > 16) {
    throw ConfigError(where + ": 'num_residual_layers' is out of range");
  }
  if (c.codebook_dim != c.hidden_size) {
    throw ConfigError(where + ": codebook_dim must equal hidden_size (no projection supported)");
  }
  if (c.upsampling_ratios.empty() || c.upsampling_ratios.size() > 8) {
    throw ConfigError(where + ": 'upsampling_ratios' must have 1..8 entries");
  }
  for (int r : c.upsampling_ratios) positive(r, "upsampling_ratios");
  if (c.target_bandwidths.empty()) throw ConfigError(where + ": 'target_bandwidths' is empty");
  for (double b : c.target_bandwidths) {
    if (!(b > 0 && b < 1e4)) throw ConfigError(where + ": a target bandwidth is out of range");
  }
  if (c.num_quantizers() < 1) throw ConfigError(where + ": target bandwidths give no quantizer");
  if (c.chunk_length_s < 0 || c.overlap < 0 || c.overlap >= 1) {
    throw ConfigError(where + ": chunk_length_s/overlap out of range");
  }
  if (c.trim_right_ratio < 0 || c.trim_right_ratio > 1) {
    throw ConfigError(where + ": trim_right_ratio must be in [0, 1]");
  }
  return c;
}

EncodecConfig load_encodec_config(const std::filesystem::path& model_dir) {
  const auto path = model_dir / "config.json";
  return parse_encodec_config(models::read_json_file(path), path.string());
}

}  // namespace earshot::encodec
