#include "models/whisper/whisper_config.hpp"

#include "models/core/json_file.hpp"

namespace earshot::models::whisper {
namespace {

WhisperConfig from_json(const nlohmann::json& j, const std::string& where) {
  if (!j.is_object()) throw ConfigError(where + ": expected a JSON object");
  WhisperConfig c;
  c.source = where;
  c.n_mels = json_get<int>(j, "num_mel_bins", where);
  c.n_vocab = json_get<int>(j, "vocab_size", where);
  c.n_audio_ctx = json_get<int>(j, "max_source_positions", where);
  c.n_text_ctx = json_get<int>(j, "max_target_positions", where);
  c.d_model = json_get<int>(j, "d_model", where);
  c.encoder_layers = json_get<int>(j, "encoder_layers", where);
  c.decoder_layers = json_get<int>(j, "decoder_layers", where);
  c.encoder_heads = json_get<int>(j, "encoder_attention_heads", where);
  c.decoder_heads = json_get<int>(j, "decoder_attention_heads", where);
  c.encoder_ffn = json_get_or<int>(j, "encoder_ffn_dim", 4 * c.d_model, where);
  c.decoder_ffn = json_get_or<int>(j, "decoder_ffn_dim", 4 * c.d_model, where);
  // transformers renamed torch_dtype to dtype; published files carry either.
  c.dtype = json_get_or<std::string>(j, "dtype", "", where);
  if (c.dtype.empty()) c.dtype = json_get_or<std::string>(j, "torch_dtype", "float32", where);
  c.suppress_tokens = json_get_or<std::vector<int>>(j, "suppress_tokens", {}, where);
  c.begin_suppress_tokens =
      json_get_or<std::vector<int>>(j, "begin_suppress_tokens", {220, 50257}, where);
  const std::string activation = json_get_or<std::string>(j, "activation_function", "gelu", where);
  if (activation != "gelu")
    throw ConfigError(where + ": activation_function '" + activation +
                      "' is not supported (Whisper uses exact 'gelu')");
  c.validate();
  return c;
}

void check_range(const std::string& where, const char* key, int value, int lo, int hi) {
  if (value < lo || value > hi)
    throw ConfigError(where + ": " + key + " = " + std::to_string(value) + " is outside [" +
                      std::to_string(lo) + ", " + std::to_string(hi) + "]");
}

}  // namespace

WhisperConfig WhisperConfig::load(const std::filesystem::path& dir) {
  const auto path = dir / "config.json";
  return from_json(read_json_file(path), path.string());
}

WhisperConfig WhisperConfig::parse(const std::string& json_text, const std::string& source) {
  auto j = nlohmann::json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) throw ConfigError(source + ": malformed JSON");
  return from_json(j, source);
}

void WhisperConfig::validate() const {
  const std::string& w = source;
  check_range(w, "num_mel_bins", n_mels, 1, 512);
  // Whisper's special-token layout needs at least the English vocabulary plus timestamps.
  check_range(w, "vocab_size", n_vocab, 51864, 60000);
  check_range(w, "max_source_positions", n_audio_ctx, 1, 1500);
  check_range(w, "max_target_positions", n_text_ctx, 8, 4096);
  check_range(w, "d_model", d_model, 1, 8192);
  check_range(w, "encoder_layers", encoder_layers, 1, 128);
  check_range(w, "decoder_layers", decoder_layers, 1, 128);
  check_range(w, "encoder_attention_heads", encoder_heads, 1, 256);
  check_range(w, "decoder_attention_heads", decoder_heads, 1, 256);
  check_range(w, "encoder_ffn_dim", encoder_ffn, 1, 65536);
  check_range(w, "decoder_ffn_dim", decoder_ffn, 1, 65536);
  if (d_model % encoder_heads != 0 || d_model % decoder_heads != 0)
    throw ConfigError(w + ": d_model " + std::to_string(d_model) +
                      " is not divisible by the number of attention heads");
  for (int t : suppress_tokens)
    if (t < 0 || t >= n_vocab) throw ConfigError(w + ": suppress_tokens has id out of range");
  for (int t : begin_suppress_tokens)
    if (t < 0 || t >= n_vocab) throw ConfigError(w + ": begin_suppress_tokens has id out of range");
}

}  // namespace earshot::models::whisper
