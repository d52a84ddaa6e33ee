// Mel filterbanks equal to librosa.filters.mel (the banks Whisper ships in mel_filters.npz).
#pragma once

#include <cstddef>
#include <vector>

namespace earshot::dsp {

// Slaney mel scale: linear below 1 kHz (200/3 Hz per mel), logarithmic above.
double hz_to_mel_slaney(double hz);
double mel_to_hz_slaney(double mel);

// A dense [n_mels][n_fft/2+1] float32 bank with each filter's nonzero bin range, so
// applying it skips the zeros (which leaves float sums bit-identical to the dense product).
struct MelFilterbank {
  std::size_t n_mels = 0;
  std::size_t n_bins = 0;
  std::vector<float> weights;      // row-major [n_mels][n_bins]
  std::vector<std::size_t> first;  // first nonzero bin of each filter
  std::vector<std::size_t> last;   // one past the last nonzero bin

  const float* row(std::size_t mel) const { return weights.data() + mel * n_bins; }
};

// librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax,
// htk=False, norm="slaney", dtype=float32), reproducing librosa's arithmetic: band edges and
// triangles in double, each triangle value rounded to float32 when stored, then multiplied
// in double by the Slaney area normalisation 2/(f[m+2]-f[m]) and rounded to float32 again.
// fmax < 0 means sample_rate / 2. Throws std::invalid_argument for nonsensical arguments.
MelFilterbank mel_filterbank_slaney(double sample_rate, std::size_t n_fft, std::size_t n_mels,
                                    double fmin = 0.0, double fmax = -1.0);

}  // namespace earshot::dsp
