#include "dsp/mel_filters.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace earshot::dsp {
namespace {

// librosa's Slaney constants.
constexpr double kLinearHzPerMel = 200.0 / 3.0;
constexpr double kLogStartHz = 1000.0;
constexpr double kLogStartMel = kLogStartHz / kLinearHzPerMel;  // 15
const double kLogStep = std::log(6.4) / 27.0;

}  // namespace

double hz_to_mel_slaney(double hz) {
  if (hz >= kLogStartHz) return kLogStartMel + std::log(hz / kLogStartHz) / kLogStep;
  return hz / kLinearHzPerMel;
}

double mel_to_hz_slaney(double mel) {
  if (mel >= kLogStartMel) return kLogStartHz * std::exp(kLogStep * (mel - kLogStartMel));
  return kLinearHzPerMel * mel;
}

MelFilterbank mel_filterbank_slaney(double sample_rate, std::size_t n_fft, std::size_t n_mels,
                                    double fmin, double fmax) {
  if (fmax < 0) fmax = sample_rate / 2.0;
  if (!(sample_rate > 0) || n_fft == 0 || n_mels == 0 || !(fmin >= 0) || !(fmax > fmin))
    throw std::invalid_argument("mel_filterbank_slaney: bad arguments (sr " +
                                std::to_string(sample_rate) + ", n_fft " + std::to_string(n_fft) +
                                ", n_mels " + std::to_string(n_mels) + ", fmin " +
                                std::to_string(fmin) + ", fmax " + std::to_string(fmax) + ")");
  MelFilterbank bank;
  bank.n_mels = n_mels;
  bank.n_bins = n_fft / 2 + 1;
  bank.weights.assign(n_mels * bank.n_bins, 0.0f);

  // np.fft.rfftfreq(n_fft, d=1/sr): k * (1 / (n_fft * d)).
  const double d = 1.0 / sample_rate;
  const double bin_hz = 1.0 / (static_cast<double>(n_fft) * d);
  std::vector<double> fft_hz(bank.n_bins);
  for (std::size_t k = 0; k < bank.n_bins; ++k) fft_hz[k] = static_cast<double>(k) * bin_hz;

  // mel_frequencies(n_mels + 2): np.linspace(mel(fmin), mel(fmax), n_mels + 2) -> Hz.
  // linspace computes start + i * ((stop - start) / (num - 1)) and sets the last to stop.
  const std::size_t n_edges = n_mels + 2;
  const double mel_lo = hz_to_mel_slaney(fmin);
  const double mel_hi = hz_to_mel_slaney(fmax);
  const double mel_step = (mel_hi - mel_lo) / static_cast<double>(n_edges - 1);
  std::vector<double> edge_hz(n_edges);
  for (std::size_t i = 0; i < n_edges; ++i) {
    const double mel = i + 1 == n_edges ? mel_hi : static_cast<double>(i) * mel_step + mel_lo;
    edge_hz[i] = mel_to_hz_slaney(mel);
  }

  for (std::size_t m = 0; m < n_mels; ++m) {
    const double lower_width = edge_hz[m + 1] - edge_hz[m];
    const double upper_width = edge_hz[m + 2] - edge_hz[m + 1];
    const double enorm = 2.0 / (edge_hz[m + 2] - edge_hz[m]);
    float* row = bank.weights.data() + m * bank.n_bins;
    for (std::size_t k = 0; k < bank.n_bins; ++k) {
      // ramps = mel_f[i] - fftfreqs; lower = -ramps[m] / fdiff[m]; upper = ramps[m+2] / fdiff[m+1]
      const double lower = -(edge_hz[m] - fft_hz[k]) / lower_width;
      const double upper = (edge_hz[m + 2] - fft_hz[k]) / upper_width;
      const auto triangle = static_cast<float>(std::max(0.0, std::min(lower, upper)));
      row[k] = static_cast<float>(static_cast<double>(triangle) * enorm);
    }
  }

  bank.first.resize(n_mels);
  bank.last.resize(n_mels);
  for (std::size_t m = 0; m < n_mels; ++m) {
    const float* row = bank.row(m);
    std::size_t first = bank.n_bins, last = 0;
    for (std::size_t k = 0; k < bank.n_bins; ++k) {
      if (row[k] != 0.0f) {
        first = std::min(first, k);
        last = k + 1;
      }
    }
    bank.first[m] = first == bank.n_bins ? 0 : first;
    bank.last[m] = last;
  }
  return bank;
}

}  // namespace earshot::dsp
