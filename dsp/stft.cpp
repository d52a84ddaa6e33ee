#include "dsp/stft.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <utility>

#include "dsp/window.hpp"

namespace earshot::dsp {
namespace {

std::string count(std::size_t n) {
  return std::to_string(n);
}

StftOptions validated(StftOptions options) {
  if (options.n_fft == 0) throw std::invalid_argument("Stft: n_fft must be > 0");
  if (options.hop == 0) throw std::invalid_argument("Stft: hop must be > 0");
  if (options.window.empty()) options.window.assign(options.n_fft, 1.0f);
  if (options.window.size() > options.n_fft)
    throw std::invalid_argument("Stft: window of " + count(options.window.size()) +
                                " samples is longer than n_fft " + count(options.n_fft));
  return options;
}

}  // namespace

Stft::Stft(StftOptions options, std::size_t max_samples)
    : options_(validated(std::move(options))), max_samples_(max_samples), fft_(options_.n_fft) {
  const std::size_t n = options_.n_fft;
  max_frames_ = frames(max_samples);
  window_ = center_window(options_.window, n);
  // irfft's 1/n (and sqrt(n) when normalized) folded into the synthesis window.
  const float inverse_scale =
      options_.normalized ? 1.0f / std::sqrt(static_cast<float>(n)) : 1.0f / static_cast<float>(n);
  synthesis_window_.resize(n);
  for (std::size_t j = 0; j < n; ++j) synthesis_window_[j] = window_[j] * inverse_scale;
  frame_.resize(n);
  spectrum_.resize(n / 2 + 1);
  const std::size_t span = max_frames_ == 0 ? n : n + options_.hop * (max_frames_ - 1);
  accumulator_.resize(span);
  envelope_.resize(span);
}

std::size_t Stft::bins() const {
  return options_.onesided ? options_.n_fft / 2 + 1 : options_.n_fft;
}

std::size_t Stft::frames(std::size_t n_samples) const {
  const std::size_t padded = n_samples + (options_.center ? 2 * (options_.n_fft / 2) : 0);
  if (padded < options_.n_fft) return 0;
  return 1 + (padded - options_.n_fft) / options_.hop;
}

void Stft::forward(std::span<const float> x, std::span<Complex> out) {
  const std::size_t n = x.size();
  const std::size_t n_fft = options_.n_fft;
  if (n > max_samples_)
    throw std::invalid_argument("Stft::forward: " + count(n) + " samples exceed max_samples " +
                                count(max_samples_));
  const std::size_t pad = options_.center ? n_fft / 2 : 0;
  const bool reflect = options_.center && options_.pad_mode == PadMode::Reflect;
  if (reflect && pad >= n)
    throw std::invalid_argument("Stft::forward: reflect padding of " + count(pad) +
                                " needs more than " + count(pad) + " samples, got " + count(n));
  const std::size_t n_frames = frames(n);
  if (n_frames == 0)
    throw std::invalid_argument("Stft::forward: " + count(n) + " samples are shorter than n_fft " +
                                count(n_fft));
  if (out.size() != bins() * n_frames)
    throw std::invalid_argument("Stft::forward: output holds " + count(out.size()) +
                                " values, expected bins*frames = " + count(bins() * n_frames));

  const float scale = options_.normalized ? 1.0f / std::sqrt(static_cast<float>(n_fft)) : 1.0f;
  const std::size_t half = n_fft / 2 + 1;
  const auto signed_n = static_cast<std::ptrdiff_t>(n);
  for (std::size_t t = 0; t < n_frames; ++t) {
    // Index of the frame's first sample in the unpadded signal (negative inside the left pad).
    const std::ptrdiff_t begin =
        static_cast<std::ptrdiff_t>(t * options_.hop) - static_cast<std::ptrdiff_t>(pad);
    if (begin >= 0 && begin + static_cast<std::ptrdiff_t>(n_fft) <= signed_n) {
      const float* src = x.data() + begin;
      for (std::size_t j = 0; j < n_fft; ++j) frame_[j] = src[j] * window_[j];
    } else {
      for (std::size_t j = 0; j < n_fft; ++j) {
        std::ptrdiff_t i = begin + static_cast<std::ptrdiff_t>(j);
        float sample = 0.0f;
        if (reflect) {
          if (i < 0) i = -i;
          if (i >= signed_n) i = 2 * (signed_n - 1) - i;
          sample = x[static_cast<std::size_t>(i)];
        } else if (i >= 0 && i < signed_n) {
          sample = x[static_cast<std::size_t>(i)];
        }
        frame_[j] = sample * window_[j];
      }
    }
    fft_.forward(frame_, spectrum_);
    for (std::size_t k = 0; k < half; ++k) out[k * n_frames + t] = spectrum_[k] * scale;
    if (!options_.onesided) {
      // Negative frequencies of a real signal: X[n-k] = conj(X[k]).
      for (std::size_t k = half; k < n_fft; ++k)
        out[k * n_frames + t] = std::conj(spectrum_[n_fft - k]) * scale;
    }
  }
}

void Stft::inverse(std::span<const Complex> spec, std::size_t n_frames, std::span<float> out) {
  const std::size_t n_fft = options_.n_fft;
  const std::size_t hop = options_.hop;
  if (n_frames == 0) throw std::invalid_argument("Stft::inverse: no frames");
  if (n_frames > max_frames_)
    throw std::invalid_argument("Stft::inverse: " + count(n_frames) + " frames exceed max " +
                                count(max_frames_));
  if (spec.size() != bins() * n_frames)
    throw std::invalid_argument("Stft::inverse: spectrum holds " + count(spec.size()) +
                                " values, expected bins*frames = " + count(bins() * n_frames));
  if (out.size() > max_samples_)
    throw std::invalid_argument("Stft::inverse: length " + count(out.size()) +
                                " exceeds max_samples " + count(max_samples_));

  const std::size_t expected = n_fft + hop * (n_frames - 1);
  std::fill(accumulator_.begin(), accumulator_.begin() + static_cast<std::ptrdiff_t>(expected),
            0.0f);
  std::fill(envelope_.begin(), envelope_.begin() + static_cast<std::ptrdiff_t>(expected), 0.0f);
  const std::size_t half = n_fft / 2 + 1;
  for (std::size_t t = 0; t < n_frames; ++t) {
    for (std::size_t k = 0; k < half; ++k) spectrum_[k] = spec[k * n_frames + t];
    fft_.inverse(spectrum_, frame_);
    float* acc = accumulator_.data() + t * hop;
    float* env = envelope_.data() + t * hop;
    for (std::size_t j = 0; j < n_fft; ++j) {
      acc[j] += frame_[j] * synthesis_window_[j];
      env[j] += window_[j] * window_[j];
    }
  }

  const std::size_t start = options_.center ? n_fft / 2 : 0;
  for (std::size_t i = 0; i < out.size(); ++i) {
    const std::size_t p = start + i;
    if (p >= expected) {
      out[i] = 0.0f;
      continue;
    }
    if (std::abs(envelope_[p]) < 1e-11f)
      throw std::invalid_argument(
          "Stft::inverse: the window's squared overlap-add is zero at sample " + count(i) +
          " (window/hop do not satisfy the NOLA condition)");
    out[i] = accumulator_[p] / envelope_[p];
  }
}

}  // namespace earshot::dsp
