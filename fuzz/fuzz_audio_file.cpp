// Feeds arbitrary bytes, as a file, to the audio reader (libsndfile underneath): it must return
// audio or throw AudioFileError. Accepted audio must be whole frames of finite samples; small
// results also go through the model-input conversion (channel mix + libsoxr resampling).
//   data[0] % 8 picks the file extension (libsndfile uses it for headerless formats).
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "dsp/audio_file.hpp"
#include "fuzz/fuzz_support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace earshot::dsp;
  if (size == 0) return 0;
  static const char* const kNames[8] = {"in.wav", "in.flac", "in.ogg", "in.aiff",
                                        "in.au",  "in.mp3",  "in.caf", "in.w64"};
  const auto path = earshot::fuzz::write_scratch(kNames[data[0] % 8],
                                                 earshot::fuzz::as_chars(data + 1, size - 1));
  try {
    const AudioBuffer audio = read_audio_file(path);
    if (audio.channels == 0 || audio.samples.size() % audio.channels != 0) __builtin_trap();
    if (!(audio.sample_rate > 0)) __builtin_trap();
    for (float v : audio.samples) {
      if (!std::isfinite(v)) __builtin_trap();  // NaN/Inf must have been replaced
    }
    // Resampling grows the audio by 16000 / rate: keep the fuzzer's memory bounded.
    const double growth = std::max(1.0, 44100.0 / audio.sample_rate);
    if (static_cast<double>(audio.frames()) * growth < 1 << 16) {
      const AudioBuffer mono = read_audio_mono_16k(path);
      if (mono.channels != 1 || mono.sample_rate != 16000.0) __builtin_trap();
      const AudioBuffer stereo = read_audio_stereo_44k(path);
      if (stereo.channels != 2 || stereo.samples.size() % 2 != 0) __builtin_trap();
    }
  } catch (const AudioFileError&) {
  }
  return 0;
}
