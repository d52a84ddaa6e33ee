// Reading audio files (anything libsndfile reads: WAV, FLAC, Ogg/Vorbis, Opus, AIFF, MP3 where
// the library was built with it, ...) into float32, converting them to what a model wants, and
// writing WAV files atomically.
#pragma once

#include <cstddef>
#include <filesystem>
#include <span>
#include <stdexcept>
#include <vector>

namespace earshot::dsp {

// Unreadable, unsupported, empty-of-format or unwritable files. The message names the file.
class AudioFileError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct AudioBuffer {
  std::vector<float> samples;  // interleaved frames, nominally in [-1, 1]
  std::size_t channels = 0;
  double sample_rate = 0;
  // NaN/Inf samples found in the file (float formats can hold them); each was replaced by 0.
  std::size_t non_finite_replaced = 0;

  std::size_t frames() const { return channels == 0 ? 0 : samples.size() / channels; }
};

// Reads the whole file. Integer formats are scaled to [-1, 1) as libsndfile does
// (int16 / 32768). Throws AudioFileError.
AudioBuffer read_audio_file(const std::filesystem::path& path);

// Channel conversion of interleaved frames:
//   same count       -> copy;
//   to 1             -> the mean of all channels;
//   from 1           -> the mono signal duplicated into every output channel;
//   from > 2 to 2    -> left = ch0 + g * (ch2 + ... + chN-1), right = ch1 + g * (same sum),
//                       g = 1/sqrt(2) (-3 dB), both divided by 1 + g * (N - 2) so full-scale
//                       input cannot clip. (Channel layouts differ between formats, so every
//                       extra channel — centre, surrounds, LFE — is spread evenly.)
// Anything else (e.g. 4 -> 3) throws std::invalid_argument.
std::vector<float> convert_channels(std::span<const float> interleaved, std::size_t from,
                                    std::size_t to);

// Reads a file and converts it to `channels` channels at `sample_rate` Hz (libsoxr HQ).
AudioBuffer read_audio_as(const std::filesystem::path& path, double sample_rate,
                          std::size_t channels);
// Whisper input: mono 16 kHz.
inline AudioBuffer read_audio_mono_16k(const std::filesystem::path& path) {
  return read_audio_as(path, 16000.0, 1);
}
// HTDemucs input: stereo 44.1 kHz (mono duplicated, more channels downmixed as above).
inline AudioBuffer read_audio_stereo_44k(const std::filesystem::path& path) {
  return read_audio_as(path, 44100.0, 2);
}

enum class WavEncoding { Pcm16, Float32 };

// Writes a WAV file atomically: the data goes to a temporary file in the same directory,
// which is flushed to disk and renamed over `path` only when everything succeeded, so readers
// never see a half-written file. Pcm16 clips to [-1, 1]. NaN/Inf samples are written as 0;
// returns how many there were. Throws AudioFileError (the temporary file is removed).
std::size_t write_wav_atomic(const std::filesystem::path& path, std::span<const float> interleaved,
                             std::size_t channels, double sample_rate,
                             WavEncoding encoding = WavEncoding::Float32);

}  // namespace earshot::dsp
