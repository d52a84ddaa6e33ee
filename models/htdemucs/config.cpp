#include "models/htdemucs/config.hpp"

#include "models/core/json_file.hpp"

#include <cmath>
#include <numeric>

namespace earshot::htdemucs {
namespace {

using models::ConfigError;
using models::json_get;
using models::json_get_or;

void require(bool ok, const std::string& where, const std::string& what) {
  if (!ok) throw ConfigError(where + ": unsupported HTDemucs configuration: " + what);
}

// A float segment (only when config.json has no segment_fraction) as a fraction with a
// denominator of at most 1000, which covers every demucs segment (39/5, 39/40, 13/20, ...).
void segment_from_float(double seconds, std::int64_t& num, std::int64_t& den) {
  num = static_cast<std::int64_t>(std::llround(seconds * 1000.0));
  den = 1000;
  const std::int64_t g = std::gcd(num, den);
  if (g > 0) {
    num /= g;
    den /= g;
  }
}

}  // namespace

HTDemucsConfig HTDemucsConfig::from_json_file(const std::filesystem::path& path) {
  const nlohmann::json root = models::read_json_file(path);
  const std::string where = path.string();
  const std::string kwhere = where + " kwargs";
  if (!root.is_object()) throw ConfigError(where + ": not a JSON object");
  const std::string klass = json_get_or<std::string>(root, "class", "HTDemucs", where);
  require(klass == "HTDemucs", where, "class '" + klass + "' (only HTDemucs is supported)");
  const auto kw = json_get<nlohmann::json>(root, "kwargs", where);
  if (!kw.is_object()) throw ConfigError(where + ": 'kwargs' is not an object");

  HTDemucsConfig c;
  c.sources = json_get<std::vector<std::string>>(kw, "sources", kwhere);
  c.audio_channels = json_get_or<int>(kw, "audio_channels", 2, kwhere);
  c.samplerate = json_get_or<int>(kw, "samplerate", 44100, kwhere);
  c.channels = json_get_or<int>(kw, "channels", 48, kwhere);
  c.growth = json_get_or<int>(kw, "growth", 2, kwhere);
  c.nfft = json_get_or<int>(kw, "nfft", 4096, kwhere);
  c.depth = json_get_or<int>(kw, "depth", 4, kwhere);
  c.kernel_size = json_get_or<int>(kw, "kernel_size", 8, kwhere);
  c.stride = json_get_or<int>(kw, "stride", 4, kwhere);
  c.context = json_get_or<int>(kw, "context", 1, kwhere);
  c.context_enc = json_get_or<int>(kw, "context_enc", 0, kwhere);
  c.norm_starts = json_get_or<int>(kw, "norm_starts", 4, kwhere);
  c.norm_groups = json_get_or<int>(kw, "norm_groups", 4, kwhere);
  c.dconv_mode = json_get_or<int>(kw, "dconv_mode", 1, kwhere);
  c.dconv_depth = json_get_or<int>(kw, "dconv_depth", 2, kwhere);
  c.dconv_comp = json_get_or<double>(kw, "dconv_comp", 8.0, kwhere);
  c.freq_emb = json_get_or<double>(kw, "freq_emb", 0.2, kwhere);
  c.emb_scale = json_get_or<double>(kw, "emb_scale", 10.0, kwhere);
  c.bottom_channels = json_get_or<int>(kw, "bottom_channels", 0, kwhere);
  c.t_layers = json_get_or<int>(kw, "t_layers", 5, kwhere);
  c.t_heads = json_get_or<int>(kw, "t_heads", 8, kwhere);
  c.t_hidden_scale = json_get_or<double>(kw, "t_hidden_scale", 4.0, kwhere);
  c.t_max_period = json_get_or<double>(kw, "t_max_period", 10000.0, kwhere);
  c.t_weight_pos_embed = json_get_or<double>(kw, "t_weight_pos_embed", 1.0, kwhere);
  c.t_cross_first = json_get_or<bool>(kw, "t_cross_first", false, kwhere);
  c.t_layer_scale = json_get_or<bool>(kw, "t_layer_scale", true, kwhere);
  c.t_gelu = json_get_or<bool>(kw, "t_gelu", true, kwhere);
  c.t_norm_in = json_get_or<bool>(kw, "t_norm_in", true, kwhere);
  c.t_norm_out = json_get_or<bool>(kw, "t_norm_out", true, kwhere);

  // The segment: exact fraction when given (the fixtures and our converter write it).
  if (root.contains("segment_fraction")) {
    const auto frac = json_get<std::vector<std::int64_t>>(root, "segment_fraction", where);
    if (frac.size() != 2 || frac[0] <= 0 || frac[1] <= 0)
      throw ConfigError(where + ": segment_fraction must be [num, den] with positive values");
    c.segment_num = frac[0];
    c.segment_den = frac[1];
  } else {
    const double seg = json_get<double>(kw, "segment", kwhere);
    if (!(seg > 0.0) || seg > 3600.0) throw ConfigError(kwhere + ": segment out of range");
    segment_from_float(seg, c.segment_num, c.segment_den);
  }

  // Checks: things we do not implement, and values that make no sense.
  require(!c.sources.empty(), kwhere, "no sources");
  require(c.audio_channels >= 1 && c.audio_channels <= 8, kwhere, "audio_channels");
  require(c.samplerate > 0, kwhere, "samplerate");
  require(json_get_or<bool>(kw, "cac", true, kwhere), kwhere, "cac=false (masking)");
  require(json_get_or<int>(kw, "wiener_iters", 0, kwhere) == 0, kwhere, "wiener_iters != 0");
  require(json_get_or<nlohmann::json>(kw, "multi_freqs", nlohmann::json::array(), kwhere).empty(),
          kwhere, "multi_freqs");
  require(json_get_or<bool>(kw, "rewrite", true, kwhere), kwhere, "rewrite=false");
  require(json_get_or<std::string>(kw, "t_emb", "sin", kwhere) == "sin", kwhere,
          "t_emb other than 'sin'");
  require(json_get_or<int>(kw, "t_sin_random_shift", 0, kwhere) == 0, kwhere,
          "t_sin_random_shift != 0 (random at inference)");
  require(json_get_or<bool>(kw, "t_norm_first", true, kwhere), kwhere, "t_norm_first=false");
  require(!json_get_or<bool>(kw, "t_norm_in_group", false, kwhere), kwhere, "t_norm_in_group");
  require(!json_get_or<bool>(kw, "t_group_norm", false, kwhere), kwhere, "t_group_norm");
  require(!json_get_or<bool>(kw, "t_sparse_self_attn", false, kwhere), kwhere, "sparse attention");
  require(!json_get_or<bool>(kw, "t_sparse_cross_attn", false, kwhere), kwhere, "sparse attention");
  require(json_get_or<bool>(kw, "use_train_segment", true, kwhere), kwhere,
          "use_train_segment=false");
  {
    const int ct = json_get_or<int>(kw, "channels_time", c.channels, kwhere);
    require(ct == c.channels, kwhere, "channels_time != channels");
  }
  require(c.nfft >= 16 && (c.nfft % 4) == 0, kwhere, "nfft");
  require(c.channels > 0 && c.growth > 0, kwhere, "channels/growth");
  require(c.kernel_size > 0 && c.stride > 0 && c.depth >= 1 && c.depth <= 8, kwhere,
          "kernel_size/stride/depth");
  require(c.context >= 0 && c.context_enc >= 0, kwhere, "context");
  require(c.norm_groups > 0 && c.dconv_depth >= 0 && c.dconv_comp > 0, kwhere, "norm/dconv");
  // Every level must stay a frequency level (no time-branch merge into the freq branch).
  {
    int freqs = c.nfft / 2;
    for (int i = 0; i < c.depth; ++i) {
      require(freqs > c.kernel_size && freqs % c.stride == 0, kwhere,
              "the frequency axis collapses before the bottom (time-branch merge layers)");
      freqs /= c.stride;
    }
  }
  require(c.t_layers >= 0 && c.t_heads > 0, kwhere, "t_layers/t_heads");
  if (c.t_layers > 0) {
    const int dim = c.transformer_dim();
    require(dim % c.t_heads == 0 && dim % 4 == 0, kwhere, "transformer width vs heads");
  }
  const std::int64_t L = c.training_length();
  require(L > c.nfft, where, "training segment shorter than one FFT window");
  if (root.contains("training_length_samples")) {
    const auto stated = json_get<std::int64_t>(root, "training_length_samples", where);
    if (stated != L)
      throw ConfigError(where + ": training_length_samples " + std::to_string(stated) +
                        " disagrees with the segment fraction (" + std::to_string(L) + ")");
  }
  return c;
}

std::int64_t HTDemucsConfig::training_length() const {
  return segment_num * samplerate / segment_den;
}

int HTDemucsConfig::frames() const {
  const std::int64_t hop = hop_length();
  return static_cast<int>((training_length() + hop - 1) / hop);
}

int HTDemucsConfig::bottom_unet_channels() const {
  int c = channels;
  for (int i = 1; i < depth; ++i) c *= growth;
  return c;
}

int HTDemucsConfig::freqs_after(int index) const {
  int f = nfft / 2;
  for (int i = 0; i <= index; ++i) f /= stride;
  return f;
}

std::vector<std::int64_t> HTDemucsConfig::time_lengths() const {
  // Each time encoder pads its input on the right to a multiple of the stride, then the conv
  // (padding kernel/4 on both sides) divides the length by the stride.
  std::vector<std::int64_t> lengths;
  std::int64_t le = training_length();
  for (int i = 0; i < depth; ++i) {
    lengths.push_back(le);
    const std::int64_t padded = (le + stride - 1) / stride * stride;
    le = (padded + 2 * (kernel_size / 4) - kernel_size) / stride + 1;
  }
  lengths.push_back(le);
  return lengths;
}

LevelShape HTDemucsConfig::freq_level(int index) const {
  LevelShape s;
  int out = channels;
  for (int i = 0; i < index; ++i) out *= growth;
  s.enc_out = out;
  s.enc_in = index == 0 ? audio_channels * 2 : out / growth;
  s.dec_out = index == 0 ? audio_channels * num_sources() * 2 : out / growth;
  s.norm = index >= norm_starts;
  s.last = index == 0;
  return s;
}

LevelShape HTDemucsConfig::time_level(int index) const {
  LevelShape s = freq_level(index);
  if (index == 0) {
    s.enc_in = audio_channels;
    s.dec_out = audio_channels * num_sources();
  }
  return s;
}

}  // namespace earshot::htdemucs
