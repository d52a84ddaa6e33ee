#include "dsp/audio_file.hpp"

#include <fcntl.h>
#include <sndfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <string>
#include <system_error>

#include "dsp/resampler.hpp"

namespace earshot::dsp {
namespace {

constexpr std::size_t kMaxChannels = 1024;
// 2^31 samples (8 GiB of float32): anything larger is corrupt or not meant for us.
constexpr std::size_t kMaxSamples = std::size_t{1} << 31;
constexpr std::size_t kBlockFrames = 8192;

// Built with append (not operator+) to dodge a GCC 12 -Wrestrict false positive.
std::string quoted(const std::filesystem::path& path) {
  std::string text(1, '\'');
  text.append(path.string());
  text.push_back('\'');
  return text;
}

// Closes the SNDFILE on every exit path.
struct SndFile {
  SNDFILE* handle = nullptr;
  ~SndFile() {
    if (handle != nullptr) sf_close(handle);
  }
};

}  // namespace

AudioBuffer read_audio_file(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec))
    throw AudioFileError("audio file " + quoted(path) + " does not exist");
  if (std::filesystem::is_directory(path, ec))
    throw AudioFileError("audio file " + quoted(path) + " is a directory");

  SF_INFO info{};
  SndFile file;
  file.handle = sf_open(path.c_str(), SFM_READ, &info);
  if (file.handle == nullptr)
    throw AudioFileError("cannot read audio file " + quoted(path) + ": " + sf_strerror(nullptr));
  if (info.channels <= 0 || static_cast<std::size_t>(info.channels) > kMaxChannels)
    throw AudioFileError("audio file " + quoted(path) + " reports " +
                         std::to_string(info.channels) + " channels");
  if (info.samplerate <= 0)
    throw AudioFileError("audio file " + quoted(path) + " reports sample rate " +
                         std::to_string(info.samplerate));

  AudioBuffer audio;
  audio.channels = static_cast<std::size_t>(info.channels);
  audio.sample_rate = info.samplerate;
  // The header's frame count is a hint (it can be wrong in damaged files): read to the end.
  if (info.frames > 0 && static_cast<std::size_t>(info.frames) < kMaxSamples / audio.channels)
    audio.samples.reserve(static_cast<std::size_t>(info.frames) * audio.channels);
  std::vector<float> block(kBlockFrames * audio.channels);
  for (;;) {
    const sf_count_t got =
        sf_readf_float(file.handle, block.data(), static_cast<sf_count_t>(kBlockFrames));
    if (got <= 0) break;
    const std::size_t values = static_cast<std::size_t>(got) * audio.channels;
    if (audio.samples.size() + values > kMaxSamples)
      throw AudioFileError("audio file " + quoted(path) + " holds more than " +
                           std::to_string(kMaxSamples) + " samples");
    audio.samples.insert(audio.samples.end(), block.begin(),
                         block.begin() + static_cast<std::ptrdiff_t>(values));
  }
  if (sf_error(file.handle) != SF_ERR_NO_ERROR)
    throw AudioFileError("error while reading audio file " + quoted(path) + ": " +
                         sf_strerror(file.handle));
  for (float& v : audio.samples) {
    if (!std::isfinite(v)) {
      v = 0.0f;
      ++audio.non_finite_replaced;
    }
  }
  return audio;
}

std::vector<float> convert_channels(std::span<const float> in, std::size_t from, std::size_t to) {
  if (from == 0 || to == 0 || in.size() % from != 0)
    throw std::invalid_argument("convert_channels: " + std::to_string(in.size()) +
                                " samples cannot be " + std::to_string(from) +
                                "-channel frames (to " + std::to_string(to) + ")");
  const std::size_t frames = in.size() / from;
  std::vector<float> out(frames * to);
  if (from == to) {
    std::copy(in.begin(), in.end(), out.begin());
  } else if (to == 1) {
    const float scale = 1.0f / static_cast<float>(from);
    for (std::size_t t = 0; t < frames; ++t) {
      float sum = 0.0f;
      for (std::size_t c = 0; c < from; ++c) sum += in[t * from + c];
      out[t] = sum * scale;
    }
  } else if (from == 1) {
    for (std::size_t t = 0; t < frames; ++t)
      for (std::size_t c = 0; c < to; ++c) out[t * to + c] = in[t];
  } else if (to == 2) {
    const float gain = 1.0f / std::sqrt(2.0f);
    const float norm = 1.0f / (1.0f + gain * static_cast<float>(from - 2));
    for (std::size_t t = 0; t < frames; ++t) {
      const float* frame = in.data() + t * from;
      float extras = 0.0f;
      for (std::size_t c = 2; c < from; ++c) extras += frame[c];
      out[2 * t] = (frame[0] + gain * extras) * norm;
      out[2 * t + 1] = (frame[1] + gain * extras) * norm;
    }
  } else {
    throw std::invalid_argument("convert_channels: no rule for " + std::to_string(from) + " -> " +
                                std::to_string(to) + " channels");
  }
  return out;
}

AudioBuffer read_audio_as(const std::filesystem::path& path, double sample_rate,
                          std::size_t channels) {
  AudioBuffer audio = read_audio_file(path);
  if (audio.channels != channels) {
    try {
      audio.samples = convert_channels(audio.samples, audio.channels, channels);
    } catch (const std::invalid_argument& e) {
      throw AudioFileError("audio file " + quoted(path) + ": " + e.what());
    }
    audio.channels = channels;
  }
  if (audio.sample_rate != sample_rate) {
    audio.samples = resample(audio.samples, channels, audio.sample_rate, sample_rate);
    audio.sample_rate = sample_rate;
  }
  return audio;
}

std::size_t write_wav_atomic(const std::filesystem::path& path, std::span<const float> interleaved,
                             std::size_t channels, double sample_rate, WavEncoding encoding) {
  if (channels == 0 || channels > kMaxChannels || interleaved.size() % channels != 0)
    throw AudioFileError("cannot write " + quoted(path) + ": " +
                         std::to_string(interleaved.size()) + " samples are not whole " +
                         std::to_string(channels) + "-channel frames");
  if (!(sample_rate >= 1.0) || sample_rate > 1e7 || sample_rate != std::floor(sample_rate))
    throw AudioFileError("cannot write " + quoted(path) +
                         ": WAV needs an integer sample rate, got " + std::to_string(sample_rate));

  const std::filesystem::path dir = path.has_parent_path() ? path.parent_path() : ".";
  std::string temp_name(".");  // hidden, beside the target so rename() stays in one filesystem
  temp_name += path.filename().string();
  temp_name += ".tmp-XXXXXX";
  std::string temp = (dir / temp_name).string();
  const int fd = mkstemp(temp.data());
  if (fd < 0)
    throw AudioFileError("cannot write " + quoted(path) + ": creating a temporary file in " +
                         quoted(dir) + " failed: " + std::strerror(errno));
  fchmod(fd, 0644);  // mkstemp makes 0600; audio files are ordinarily world-readable

  std::size_t replaced = 0;
  std::string failure;
  {
    SF_INFO info{};
    info.channels = static_cast<int>(channels);
    info.samplerate = static_cast<int>(sample_rate);
    info.format =
        SF_FORMAT_WAV | (encoding == WavEncoding::Pcm16 ? SF_FORMAT_PCM_16 : SF_FORMAT_FLOAT);
    SndFile file;
    file.handle = sf_open_fd(fd, SFM_WRITE, &info, /*close_desc=*/SF_FALSE);
    if (file.handle == nullptr) {
      failure = std::string("libsndfile: ") + sf_strerror(nullptr);
    } else {
      // Saturate instead of wrapping when converting floats outside [-1, 1] to integers.
      sf_command(file.handle, SFC_SET_CLIPPING, nullptr, SF_TRUE);
      std::vector<float> block(kBlockFrames * channels);
      for (std::size_t pos = 0; pos < interleaved.size() && failure.empty();) {
        const std::size_t n = std::min(block.size(), interleaved.size() - pos);
        for (std::size_t i = 0; i < n; ++i) {
          const float v = interleaved[pos + i];
          const bool finite = std::isfinite(v);
          replaced += finite ? 0 : 1;
          block[i] = finite ? v : 0.0f;
        }
        const auto frames = static_cast<sf_count_t>(n / channels);
        if (sf_writef_float(file.handle, block.data(), frames) != frames)
          failure = std::string("libsndfile: ") + sf_strerror(file.handle);
        pos += n;
      }
      const int closed = sf_close(file.handle);  // always close, even after a failure
      file.handle = nullptr;
      if (failure.empty() && closed != 0) failure = "libsndfile: close failed";
    }
  }
  if (failure.empty() && fsync(fd) != 0) failure = std::string("fsync: ") + std::strerror(errno);
  if (close(fd) != 0 && failure.empty()) failure = std::string("close: ") + std::strerror(errno);
  if (failure.empty()) {
    std::error_code ec;
    std::filesystem::rename(temp, path, ec);
    if (ec) failure = "renaming the temporary file failed: " + ec.message();
  }
  if (!failure.empty()) {
    std::error_code ignored;
    std::filesystem::remove(temp, ignored);
    throw AudioFileError("cannot write " + quoted(path) + ": " + failure);
  }
  return replaced;
}

}  // namespace earshot::dsp
