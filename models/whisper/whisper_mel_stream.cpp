#include "models/whisper/whisper_mel_stream.hpp"

#include "dsp/audio_file.hpp"
#include "dsp/log_mel.hpp"
#include "dsp/resampler.hpp"

#include <sndfile.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace earshot::models::whisper {
namespace {
constexpr int kWindowFrames = 3000;
constexpr std::size_t kHop = dsp::WhisperAudio::kHop;
constexpr std::size_t kPadSamples = dsp::WhisperAudio::kChunkSamples;  // 30 s of silence
constexpr int kMargin = 3;  // frames of context each side: 480 samples >= the 200 a frame needs
constexpr std::size_t kBlockFrames = 8192;
constexpr std::size_t kMaxChannels = 1024;

std::string quoted(const std::filesystem::path& path) {
  return "'" + path.string() + "'";
}
}  // namespace

// The recording at 16 kHz mono followed by 30 s of zeros, read forward through a sliding
// buffer: cover(a, b) makes samples [a, b) available (as far as the signal goes) and forgets
// everything before a.
class WhisperMelStream::Signal {
 public:
  explicit Signal(const std::filesystem::path& path) : path_(path) {
    std::error_code ec;
    if (!std::filesystem::exists(path, ec))
      throw dsp::AudioFileError("audio file " + quoted(path) + " does not exist");
    if (std::filesystem::is_directory(path, ec))
      throw dsp::AudioFileError("audio file " + quoted(path) + " is a directory");
    SF_INFO info{};
    file_ = sf_open(path.c_str(), SFM_READ, &info);
    if (file_ == nullptr)
      throw dsp::AudioFileError("cannot read audio file " + quoted(path) + ": " +
                                sf_strerror(nullptr));
    if (info.channels <= 0 || static_cast<std::size_t>(info.channels) > kMaxChannels) {
      sf_close(file_);
      throw dsp::AudioFileError("audio file " + quoted(path) + " reports " +
                                std::to_string(info.channels) + " channels");
    }
    if (info.samplerate <= 0) {
      sf_close(file_);
      throw dsp::AudioFileError("audio file " + quoted(path) + " reports sample rate " +
                                std::to_string(info.samplerate));
    }
    channels_ = static_cast<std::size_t>(info.channels);
    block_.resize(kBlockFrames * channels_);
    mono_.resize(kBlockFrames);
    if (info.samplerate != 16000) {
      resampler_.emplace(static_cast<double>(info.samplerate), 16000.0, 1);
      resampled_.resize(resampler_->output_capacity(kBlockFrames) + 8192);
    }
    buffer_.reserve(static_cast<std::size_t>(kWindowFrames + 2 * kMargin + 2) * kHop +
                    resampled_.size() + kBlockFrames);
  }
  ~Signal() {
    if (file_ != nullptr) sf_close(file_);
  }
  Signal(const Signal&) = delete;
  Signal& operator=(const Signal&) = delete;

  bool ended() const { return ended_; }
  std::size_t audio_samples() const { return audio_samples_; }
  std::size_t total_samples() const { return audio_samples_ + kPadSamples; }  // once ended()
  std::size_t non_finite() const { return non_finite_; }

  std::span<const float> cover(std::size_t a, std::size_t b) {
    drop_before(a);
    while (start_ + buffer_.size() < b && !(ended_ && start_ + buffer_.size() >= total_samples())) {
      pull();
      drop_before(a);
    }
    if (a < start_)
      throw std::logic_error("whisper mel stream: windows must be read in order of their start");
    const std::size_t end = std::max(a, std::min(b, start_ + buffer_.size()));
    return std::span<const float>(buffer_).subspan(a - start_, end - a);
  }

 private:
  // Appends the next block of 16 kHz samples, or the padding once the file is exhausted.
  void pull() {
    if (ended_) {
      const std::size_t have = start_ + buffer_.size();
      const std::size_t n = std::min<std::size_t>(kBlockFrames, total_samples() - have);
      buffer_.insert(buffer_.end(), n, 0.0f);
      return;
    }
    const sf_count_t got =
        file_done_ ? 0
                   : sf_readf_float(file_, block_.data(), static_cast<sf_count_t>(kBlockFrames));
    if (got <= 0) {
      if (!file_done_ && sf_error(file_) != SF_ERR_NO_ERROR)
        throw dsp::AudioFileError("error while reading audio file " + quoted(path_) + ": " +
                                  sf_strerror(file_));
      file_done_ = true;
      if (resampler_) {
        const std::size_t more = resampler_->flush(resampled_);
        if (more > 0) {
          append(std::span<const float>(resampled_).first(more));
          return;
        }
      }
      ended_ = true;
      audio_samples_ = start_ + buffer_.size();
      return;
    }
    const auto frames = static_cast<std::size_t>(got);
    // As dsp::read_audio_file + convert_channels: NaN/Inf become 0, then the channel mean.
    for (std::size_t i = 0; i < frames * channels_; ++i)
      if (!std::isfinite(block_[i])) {
        block_[i] = 0.0f;
        ++non_finite_;
      }
    if (channels_ == 1) {
      std::copy_n(block_.begin(), frames, mono_.begin());
    } else {
      const float scale = 1.0f / static_cast<float>(channels_);
      for (std::size_t t = 0; t < frames; ++t) {
        float sum = 0.0f;
        for (std::size_t ch = 0; ch < channels_; ++ch) sum += block_[t * channels_ + ch];
        mono_[t] = sum * scale;
      }
    }
    const std::span<const float> mono = std::span<const float>(mono_).first(frames);
    if (resampler_)
      append(std::span<const float>(resampled_).first(resampler_->process(mono, resampled_)));
    else
      append(mono);
  }
  void drop_before(std::size_t a) {
    if (a <= start_) return;
    const std::size_t drop = std::min(a - start_, buffer_.size());
    buffer_.erase(buffer_.begin(), buffer_.begin() + static_cast<std::ptrdiff_t>(drop));
    start_ += drop;
  }
  void append(std::span<const float> s) { buffer_.insert(buffer_.end(), s.begin(), s.end()); }

  std::filesystem::path path_;
  SNDFILE* file_ = nullptr;
  std::size_t channels_ = 1;
  std::optional<dsp::Resampler> resampler_;
  std::vector<float> block_, mono_, resampled_;
  std::vector<float> buffer_;
  std::size_t start_ = 0;  // absolute index of buffer_[0]
  bool file_done_ = false;
  bool ended_ = false;
  std::size_t audio_samples_ = 0;
  std::size_t non_finite_ = 0;
};

struct WhisperMelStream::Mel {
  explicit Mel(int n_mels)
      : mel(static_cast<std::size_t>(n_mels),
            static_cast<std::size_t>(kWindowFrames + 2 * kMargin + 1) * kHop),
        frames(static_cast<std::size_t>(n_mels) * (kWindowFrames + 2 * kMargin + 1)) {}
  dsp::WhisperLogMel mel;
  std::vector<float> frames;  // [n_mels, window + margins] unnormalised
};

WhisperMelStream::WhisperMelStream(const std::filesystem::path& path, int n_mels)
    : path_(path), n_mels_(n_mels), mel_(std::make_unique<Mel>(n_mels)) {
  // Pass 1: every frame once, for the global maximum.
  Signal first(path);
  std::vector<float> chunk(static_cast<std::size_t>(n_mels) * kWindowFrames);
  float peak = -std::numeric_limits<float>::infinity();
  bool finite = true;
  for (int f0 = 0;;) {
    const int f1 = compute_frames(first, f0, f0 + kWindowFrames, chunk.data(), kWindowFrames);
    for (int m = 0; m < n_mels; ++m)
      for (int f = 0; f < f1 - f0; ++f) {
        const float v =
            chunk[static_cast<std::size_t>(m) * kWindowFrames + static_cast<std::size_t>(f)];
        peak = std::max(peak, v);
        finite = finite && std::isfinite(v);
      }
    if (first.ended() && f1 >= total_frames_) break;
    f0 = f1;
  }
  // Samples beyond about 1e16 overflow the float power spectrum: every frame would become
  // inf and the model's output NaN. Valid audio (even clipped at many times full scale) is far
  // below that.
  if (!finite || !std::isfinite(peak))
    throw std::runtime_error("audio file '" + path.string() +
                             "': sample values so far beyond full scale that the spectrum "
                             "overflows (not audio in [-1, 1]?)");
  peak_ = peak;
  samples_ = first.audio_samples();
  non_finite_ = first.non_finite();
  content_frames_ = total_frames_ - kWindowFrames;
  signal_ = std::make_unique<Signal>(path);
}

WhisperMelStream::~WhisperMelStream() = default;

int WhisperMelStream::compute_frames(Signal& signal, int f0, int f1, float* out, int stride) {
  const std::size_t s = f0 >= kMargin ? static_cast<std::size_t>(f0 - kMargin) * kHop : 0;
  std::span<const float> samples = signal.cover(s, static_cast<std::size_t>(f1 + kMargin) * kHop);
  if (signal.ended()) {
    total_frames_ = static_cast<int>(dsp::WhisperLogMel::frames_for(signal.total_samples()));
    f1 = std::min(f1, total_frames_);
  }
  if (f1 <= f0) return f0;
  // A buffer that stops short of the signal's end must still reach past f1's context.
  const int first = static_cast<int>(s / kHop);
  const int n = static_cast<int>(dsp::WhisperLogMel::frames_for(samples.size()));
  mel_->mel.log_mel_frames(samples, mel_->frames, static_cast<std::size_t>(n));
  for (int m = 0; m < n_mels_; ++m)
    std::copy_n(mel_->frames.begin() + static_cast<std::ptrdiff_t>(m) * n + (f0 - first), f1 - f0,
                out + static_cast<std::size_t>(m) * static_cast<std::size_t>(stride));
  return f1;
}

void WhisperMelStream::read(int seek, int size, float* window) {
  if (seek < 0 || size < 0 || size > kWindowFrames || seek + size > total_frames_)
    throw std::out_of_range("whisper mel stream: window out of range");
  if (size == 0) return;
  compute_frames(*signal_, seek, seek + size, window, kWindowFrames);
  // Whisper's normalisation with the whole recording's maximum (dsp::WhisperLogMel::normalize).
  const float floor = peak_ - 8.0f;
  for (int m = 0; m < n_mels_; ++m) {
    float* row = window + static_cast<std::size_t>(m) * kWindowFrames;
    for (int f = 0; f < size; ++f) row[f] = (std::max(row[f], floor) + 4.0f) / 4.0f;
  }
}

}  // namespace earshot::models::whisper
