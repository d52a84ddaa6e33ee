#include "dsp/log_mel.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>

#include "dsp/window.hpp"

namespace earshot::dsp {

namespace {
constexpr std::size_t kPad = WhisperAudio::kNFft / 2;  // torch.stft center padding
constexpr std::size_t kBins = WhisperAudio::kNFft / 2 + 1;

// Scratch layout in floats, every part starting on a 64-byte boundary.
constexpr std::size_t align16(std::size_t n) {
  return (n + 15) / 16 * 16;
}
constexpr std::size_t kWindowAt = 0;
constexpr std::size_t kFrameAt = kWindowAt + align16(WhisperAudio::kNFft);
constexpr std::size_t kPowerAt = kFrameAt + align16(WhisperAudio::kNFft);
constexpr std::size_t kSpectrumAt = kPowerAt + align16(kBins);
constexpr std::size_t kScratchFloats = kSpectrumAt + align16(2 * kBins);
constexpr std::size_t kHeapPadding = 16;  // a vector's data is only 16-byte aligned
}  // namespace

WhisperLogMel::WhisperLogMel(std::size_t n_mels, std::size_t max_samples)
    : max_samples_(std::max(max_samples, WhisperAudio::kChunkSamples)),
      bank_(mel_filterbank_slaney(WhisperAudio::kSampleRate, WhisperAudio::kNFft, n_mels)),
      fft_(WhisperAudio::kNFft),
      owned_(kScratchFloats + kHeapPadding),
      chunk_(WhisperAudio::kChunkSamples) {
  float* p = owned_.data();
  while (reinterpret_cast<std::uintptr_t>(p) % 64 != 0) ++p;
  carve_scratch(p);
}

WhisperLogMel::WhisperLogMel(std::size_t n_mels, std::size_t max_samples, rt::MemoryBudget& budget)
    : max_samples_(std::max(max_samples, WhisperAudio::kChunkSamples)),
      bank_(mel_filterbank_slaney(WhisperAudio::kSampleRate, WhisperAudio::kNFft, n_mels)),
      fft_(WhisperAudio::kNFft),
      reserved_(budget.reserve_array<float>("whisper log-mel scratch", kScratchFloats)) {
  carve_scratch(reserved_.as<float>().data());
}

std::size_t WhisperLogMel::scratch_bytes() {
  return kScratchFloats * sizeof(float);
}

void WhisperLogMel::carve_scratch(float* storage) {
  window_ = {storage + kWindowAt, WhisperAudio::kNFft};
  const std::vector<float> hann = hann_window(WhisperAudio::kNFft, /*periodic=*/true);
  std::copy(hann.begin(), hann.end(), window_.begin());
  frame_ = {storage + kFrameAt, WhisperAudio::kNFft};
  power_ = {storage + kPowerAt, kBins};
  spectrum_ = {reinterpret_cast<Complex*>(storage + kSpectrumAt), kBins};
}

void WhisperLogMel::compute(std::span<const float> audio, std::span<float> out) {
  if (chunk_.empty())
    throw std::logic_error(
        "WhisperLogMel::compute: this object was made for log_mel_frames() only (budget "
        "constructor)");
  if (out.size() != n_mels() * WhisperAudio::kChunkFrames)
    throw std::invalid_argument(
        "WhisperLogMel::compute: output holds " + std::to_string(out.size()) +
        " values, expected n_mels*3000 = " + std::to_string(n_mels() * WhisperAudio::kChunkFrames));
  const std::size_t kept = std::min(audio.size(), WhisperAudio::kChunkSamples);
  std::copy_n(audio.begin(), kept, chunk_.begin());
  std::fill(chunk_.begin() + static_cast<std::ptrdiff_t>(kept), chunk_.end(), 0.0f);
  log_mel_frames(chunk_, out, WhisperAudio::kChunkFrames);
  normalize(out);
}

void WhisperLogMel::log_mel_frames(std::span<const float> audio, std::span<float> out,
                                   std::size_t out_stride) {
  const std::size_t n = audio.size();
  if (n <= kPad || n > max_samples_)
    throw std::invalid_argument("WhisperLogMel::log_mel_frames: needs " + std::to_string(kPad + 1) +
                                ".." + std::to_string(max_samples_) + " samples, got " +
                                std::to_string(n));
  const std::size_t frames = frames_for(n);
  if (out_stride == 0) out_stride = frames;
  if (out_stride < frames || out.size() < (n_mels() - 1) * out_stride + frames)
    throw std::invalid_argument("WhisperLogMel::log_mel_frames: output of " +
                                std::to_string(out.size()) + " values with stride " +
                                std::to_string(out_stride) + " cannot hold " +
                                std::to_string(n_mels()) + " x " + std::to_string(frames));

  const auto signed_n = static_cast<std::ptrdiff_t>(n);
  for (std::size_t t = 0; t < frames; ++t) {
    const std::ptrdiff_t begin =
        static_cast<std::ptrdiff_t>(t * WhisperAudio::kHop) - static_cast<std::ptrdiff_t>(kPad);
    if (begin >= 0 && begin + static_cast<std::ptrdiff_t>(WhisperAudio::kNFft) <= signed_n) {
      const float* src = audio.data() + begin;
      for (std::size_t j = 0; j < WhisperAudio::kNFft; ++j) frame_[j] = src[j] * window_[j];
    } else {
      // torch's reflect padding: x[-i] = x[i], x[n-1+i] = x[n-1-i].
      for (std::size_t j = 0; j < WhisperAudio::kNFft; ++j) {
        std::ptrdiff_t i = begin + static_cast<std::ptrdiff_t>(j);
        if (i < 0) i = -i;
        if (i >= signed_n) i = 2 * (signed_n - 1) - i;
        frame_[j] = audio[static_cast<std::size_t>(i)] * window_[j];
      }
    }
    fft_.forward(frame_, spectrum_);
    for (std::size_t k = 0; k < kBins; ++k) {
      // torch: stft.abs() ** 2, with abs computed as sqrt(re^2 + im^2) in float32.
      const float re = spectrum_[k].real();
      const float im = spectrum_[k].imag();
      const float magnitude = std::sqrt(re * re + im * im);
      power_[k] = magnitude * magnitude;
    }
    for (std::size_t m = 0; m < n_mels(); ++m) {
      const float* weights = bank_.row(m);
      float sum = 0.0f;
      for (std::size_t k = bank_.first[m]; k < bank_.last[m]; ++k) sum += weights[k] * power_[k];
      out[m * out_stride + t] = std::log10(std::max(sum, 1e-10f));
    }
  }
}

void WhisperLogMel::normalize(std::span<float> log_mel) {
  if (log_mel.empty()) return;
  float peak = -std::numeric_limits<float>::infinity();
  for (float v : log_mel) peak = std::max(peak, v);
  const float floor = peak - 8.0f;
  for (float& v : log_mel) v = (std::max(v, floor) + 4.0f) / 4.0f;
}

}  // namespace earshot::dsp
