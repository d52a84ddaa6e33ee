// Feeds arbitrary bytes, as config.json, to each model's config loader (Whisper, EnCodec,
// HTDemucs): each must return a config or throw ConfigError. An accepted config must be usable:
// the derived sizes the models compute from it must not divide by zero or overflow (UBSan
// watches) and must be positive.
//   data[0] % 3: 0 Whisper, 1 EnCodec, 2 HTDemucs.
#include <cstddef>
#include <cstdint>

#include "fuzz/fuzz_support.hpp"
#include "models/core/json_file.hpp"
#include "models/encodec/encodec_config.hpp"
#include "models/htdemucs/config.hpp"
#include "models/whisper/whisper_config.hpp"

namespace {

void whisper(std::string_view text) {
  using earshot::models::whisper::WhisperConfig;
  const WhisperConfig c = WhisperConfig::parse(std::string(text), "fuzz config.json");
  c.validate();
  if (c.encoder_head_dim() <= 0 || c.decoder_head_dim() <= 0 || c.n_mel_frames() <= 0) {
    __builtin_trap();
  }
}

void encodec(std::string_view text) {
  using namespace earshot::encodec;
  earshot::fuzz::write_scratch("config.json", text);
  const EncodecConfig c = load_encodec_config(earshot::fuzz::scratch_dir());
  if (c.hop_length() <= 0 || c.frame_rate() <= 0 || c.num_quantizers() <= 0) __builtin_trap();
  if (c.chunk_length() < 0 || c.chunk_stride() < 0) __builtin_trap();
  for (double kbps : c.target_bandwidths) {
    const int n_q = c.quantizers_for_bandwidth(kbps);
    try {
      (void)c.bandwidth_for_quantizers(n_q);
    } catch (const std::invalid_argument&) {  // documented: n_q of no listed bandwidth
    }
  }
  (void)c.reference_name();
}

void htdemucs(std::string_view text) {
  using earshot::htdemucs::HTDemucsConfig;
  const HTDemucsConfig c =
      HTDemucsConfig::from_json_file(earshot::fuzz::write_scratch("htdemucs.json", text));
  if (c.training_length() <= 0 || c.frames() <= 0 || c.num_sources() <= 0) __builtin_trap();
  (void)c.bottom_unet_channels();
  (void)c.transformer_dim();
  (void)c.time_lengths();
  for (int i = 0; i < c.depth; ++i) {
    (void)c.freqs_after(i);
    (void)c.freq_level(i);
    (void)c.time_level(i);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view text = earshot::fuzz::as_chars(data + 1, size - 1);
  try {
    switch (data[0] % 3) {
      case 0:
        whisper(text);
        break;
      case 1:
        encodec(text);
        break;
      default:
        htdemucs(text);
        break;
    }
  } catch (const earshot::models::ConfigError&) {
  }
  return 0;
}
