// Analysis windows, computed the way torch computes them so spectra match the references.
#pragma once

#include <cmath>
#include <cstddef>
#include <numbers>
#include <stdexcept>
#include <string>
#include <vector>

namespace earshot::dsp {

// float32 angles (as torch) put ~1e-6 of error on large k, as in torch itself.
// Hann window of `length` samples, identical in arithmetic to torch.hann_window (which is
// hamming_window(alpha=0.5, beta=0.5)): in float32, w[k] = 0.5 - 0.5 * cos(k * (2*pi / N)), with
// N = length (periodic, torch's default, used by Whisper and demucs) or N = length - 1
// (symmetric, numpy.hanning / scipy sym=True). length 1 gives {1}, length 0 gives {}.
inline std::vector<float> hann_window(std::size_t length, bool periodic = true) {
  std::vector<float> window(length);
  if (length == 1) {
    window[0] = 1.0f;
    return window;
  }
  if (length == 0) return window;
  // torch: periodic computes a symmetric window of length+1 and drops the last sample.
  const std::size_t span = periodic ? length : length - 1;
  // torch multiplies a float32 arange by the step rounded to float32, then cos in float32.
  const float step = static_cast<float>(2.0 * std::numbers::pi / static_cast<double>(span));
  for (std::size_t k = 0; k < length; ++k) {
    const float c = std::cos(static_cast<float>(k) * step);
    window[k] = -0.5f * c + 0.5f;
  }
  return window;
}

// Places a window shorter than n_fft in the middle of an n_fft frame, zero elsewhere, as
// torch.stft does for win_length < n_fft (left pad = (n_fft - win_length) / 2).
inline std::vector<float> center_window(const std::vector<float>& window, std::size_t n_fft) {
  std::vector<float> padded(n_fft, 0.0f);
  if (window.size() > n_fft)
    throw std::invalid_argument("center_window: window of " + std::to_string(window.size()) +
                                " samples is longer than n_fft " + std::to_string(n_fft));
  const std::size_t left = (n_fft - window.size()) / 2;
  for (std::size_t k = 0; k < window.size(); ++k) padded[left + k] = window[k];
  return padded;
}

}  // namespace earshot::dsp
