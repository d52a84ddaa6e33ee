// Short-time Fourier transform and its inverse, with torch.stft / torch.istft semantics.
//
// Forward (torch.stft(x, n_fft, hop, window=w, center, pad_mode, normalized, onesided,
// return_complex=True)):
//   - center=true pads n_fft/2 samples on both sides (reflect: x[-i] = x[i], the edge sample not
//     repeated; or zeros), so frame t is centred on sample t*hop.
//   - frame t = padded[t*hop : t*hop + n_fft] * window, then an unnormalised DFT.
//   - normalized=true multiplies by 1/sqrt(n_fft).
//   - frames = 1 + (padded_length - n_fft) / hop.
//   - Layout of the result: [bins][frames] row-major, like torch's [freq, time].
// Inverse (torch.istft(spec, n_fft, hop, window=w, center, normalized, onesided, length)):
//   overlap-adds window * irfft(frame) and divides by the overlap-added window^2 (the least
//   squares inverse), trims n_fft/2 from the start when centred, and cuts or zero-extends to
//   `length`. Perfect reconstruction when the window^2 overlap sum is nonzero everywhere.
//   With onesided=false only the bins 0..n_fft/2 are read (the input is assumed Hermitian,
//   as it is for any real signal's spectrum).
//
// All workspaces are sized at construction from `max_samples`; forward() and inverse() then
// allocate nothing. They use member workspaces, so one Stft object serves one thread at a time.
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <vector>

#include "dsp/fft.hpp"

namespace earshot::dsp {

enum class PadMode { Reflect, Zeros };

struct StftOptions {
  std::size_t n_fft = 0;
  std::size_t hop = 0;
  // Length <= n_fft, centred in the frame if shorter (torch's win_length). Empty: all ones.
  std::vector<float> window{};
  bool center = true;
  PadMode pad_mode = PadMode::Reflect;
  bool normalized = false;
  bool onesided = true;
};

class Stft {
 public:
  // max_samples: the longest signal forward() will see and the longest output inverse() writes.
  Stft(StftOptions options, std::size_t max_samples);

  const StftOptions& options() const { return options_; }
  std::size_t n_fft() const { return options_.n_fft; }
  std::size_t hop() const { return options_.hop; }
  // n_fft/2+1 when onesided, else n_fft.
  std::size_t bins() const;
  // Frames produced for a signal of n samples (0 when too short for an uncentred frame).
  std::size_t frames(std::size_t n_samples) const;
  std::size_t max_samples() const { return max_samples_; }
  std::size_t max_frames() const { return max_frames_; }

  // x: n samples (n <= max_samples; with center and Reflect n > n_fft/2, as torch requires).
  // out: bins() * frames(n) values, [bin][frame]. Throws std::invalid_argument on bad sizes.
  void forward(std::span<const float> x, std::span<Complex> out);

  // spec: bins() * n_frames values, [bin][frame]. out.size() is the `length` wanted (torch's
  // length argument; it may not exceed max_samples). Samples past the last frame are zeros.
  // Throws std::invalid_argument on bad sizes or when the window^2 overlap sum vanishes
  // inside the output (torch's "window overlap add min" error).
  void inverse(std::span<const Complex> spec, std::size_t n_frames, std::span<float> out);

 private:
  StftOptions options_;
  std::size_t max_samples_ = 0;
  std::size_t max_frames_ = 0;
  RealFft fft_;
  std::vector<float> window_;            // n_fft, centred, torch semantics
  std::vector<float> synthesis_window_;  // window / n_fft (irfft scaling folded in)
  std::vector<float> frame_;             // n_fft
  std::vector<Complex> spectrum_;        // n_fft/2+1
  std::vector<float> accumulator_;       // overlap-add of inverse frames
  std::vector<float> envelope_;          // overlap-add of window^2
};

}  // namespace earshot::dsp
