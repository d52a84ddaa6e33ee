#include "nodes/stems/song_reader.hpp"

#include "dsp/audio_file.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace earshot::stems {
namespace {

// Frames read before a seek target so the resampler's filter has settled (its length is a
// few hundred frames at SOXR_HQ; this is generous).
constexpr std::int64_t kWarmUp = 8192;

}  // namespace

SongReader::SongReader(const std::string& path, int rate) : path_(path), rate_(rate) {
  if (rate <= 0) throw dsp::AudioFileError(path + ": the output rate must be positive");
  SF_INFO info{};
  file_ = sf_open(path.c_str(), SFM_READ, &info);
  if (file_ == nullptr)
    throw dsp::AudioFileError(path + ": cannot read audio: " + sf_strerror(nullptr));
  if (info.channels <= 0 || info.samplerate <= 0) {
    sf_close(file_);
    throw dsp::AudioFileError(path + ": no audio channels or sample rate");
  }
  if (info.seekable == 0 || info.frames <= 0) {
    sf_close(file_);
    throw dsp::AudioFileError(path + (info.frames <= 0 ? ": no audio frames"
                                                       : ": cannot seek in this file (the deck "
                                                         "streams from disk; convert it to WAV "
                                                         "or FLAC)"));
  }
  file_channels_ = info.channels;
  file_rate_ = info.samplerate;
  file_frames_ = info.frames;
  frames_ = std::llround(static_cast<double>(file_frames_) * rate_ / file_rate_);
  const int g = std::gcd(rate_, file_rate_);
  step_out_ = rate_ / g;
  step_file_ = file_rate_ / g;
  block_.resize(static_cast<std::size_t>(kBlock) * file_channels_);
  stereo_.resize(static_cast<std::size_t>(kBlock) * 2);
  if (file_rate_ != rate_) {
    resampler_ = std::make_unique<dsp::Resampler>(file_rate_, rate_, 2);
    ready_.resize(resampler_->output_capacity(kBlock) * 2);
  } else {
    ready_.resize(static_cast<std::size_t>(kBlock) * 2);
  }
}

SongReader::~SongReader() {
  if (file_ != nullptr) sf_close(file_);
}

void SongReader::seek(std::int64_t frame) {
  frame = std::clamp<std::int64_t>(frame, 0, frames_);
  std::int64_t x0 = frame, i0 = frame;
  if (resampler_) {
    x0 = std::max<std::int64_t>(0, frame - kWarmUp) / step_out_ * step_out_;
    i0 = std::min(x0 / step_out_ * step_file_, file_frames_);
    resampler_->reset();
  }
  if (sf_seek(file_, i0, SEEK_SET) < 0)
    throw dsp::AudioFileError(path_ + ": cannot seek to frame " + std::to_string(i0) + ": " +
                              sf_strerror(file_));
  position_ = frame;
  stream_ = x0;
  ready_begin_ = ready_end_ = 0;
  file_done_ = drained_ = false;
}

bool SongReader::refill() {
  ready_begin_ = ready_end_ = 0;
  if (file_done_ && (!resampler_ || drained_)) return false;
  std::int64_t produced = 0;
  if (!file_done_) {
    const sf_count_t got = sf_readf_float(file_, block_.data(), kBlock);
    if (got < 0) throw dsp::AudioFileError(path_ + ": read error: " + sf_strerror(file_));
    if (got == 0) {
      file_done_ = true;
    } else {
      const std::size_t samples = static_cast<std::size_t>(got) * file_channels_;
      for (std::size_t i = 0; i < samples; ++i)
        if (!std::isfinite(block_[i])) {
          block_[i] = 0.0f;
          ++non_finite_;
        }
      // The same channel rule as dsp::convert_channels (the offline path).
      float* dst = resampler_ ? stereo_.data() : ready_.data();
      const float gain = 1.0f / std::sqrt(2.0f);
      const float norm = 1.0f / (1.0f + gain * static_cast<float>(std::max(file_channels_, 2) - 2));
      for (sf_count_t t = 0; t < got; ++t) {
        const float* f = block_.data() + t * file_channels_;
        if (file_channels_ == 1) {
          dst[2 * t] = dst[2 * t + 1] = f[0];
        } else if (file_channels_ == 2) {
          dst[2 * t] = f[0];
          dst[2 * t + 1] = f[1];
        } else {
          float extras = 0.0f;
          for (int c = 2; c < file_channels_; ++c) extras += f[c];
          dst[2 * t] = (f[0] + gain * extras) * norm;
          dst[2 * t + 1] = (f[1] + gain * extras) * norm;
        }
      }
      produced = resampler_ ? static_cast<std::int64_t>(resampler_->process(
                                  std::span<const float>(stereo_.data(), got * 2), ready_))
                            : got;
    }
  }
  if (file_done_ && resampler_ && !drained_) {
    produced = static_cast<std::int64_t>(resampler_->flush(ready_));
    if (produced == 0) drained_ = true;
  }
  ready_end_ = produced;
  stream_ += produced;
  return produced > 0 || !file_done_ || (resampler_ && !drained_);
}

std::int64_t SongReader::read(float* out, std::int64_t max) {
  std::int64_t n = 0;
  while (n < max && position_ < frames_) {
    if (ready_begin_ == ready_end_) {
      if (!refill()) {
        // The stream ended a little short of frames(): the rest is silence.
        const std::int64_t pad = std::min(max - n, frames_ - position_);
        std::fill(out + n * 2, out + (n + pad) * 2, 0.0f);
        n += pad;
        position_ += pad;
        stream_ = position_;
        break;
      }
      continue;
    }
    // Song frame of ready_[ready_begin_]; drop the warm-up before the seek target.
    const std::int64_t at = stream_ - (ready_end_ - ready_begin_);
    if (at < position_) {
      ready_begin_ += std::min(position_ - at, ready_end_ - ready_begin_);
      continue;
    }
    const std::int64_t take = std::min({ready_end_ - ready_begin_, max - n, frames_ - position_});
    std::copy(ready_.begin() + ready_begin_ * 2, ready_.begin() + (ready_begin_ + take) * 2,
              out + n * 2);
    ready_begin_ += take;
    n += take;
    position_ += take;
  }
  return n;
}

}  // namespace earshot::stems
