#include "models/htdemucs/spectrogram.hpp"

#include "dsp/window.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace earshot::htdemucs {

DemucsSpectrogram::DemucsSpectrogram(int nfft, std::int64_t length, rt::MemoryBudget& budget,
                                     const std::string& tag, int workers)
    : nfft_(nfft),
      hop_(nfft / 4),
      pad_(nfft / 4 / 2 * 3),
      length_(length),
      frames_(static_cast<int>((length + nfft / 4 - 1) / (nfft / 4))),
      fft_(static_cast<std::size_t>(nfft)),
      ifft_(static_cast<std::size_t>(nfft)),
      workers_(std::max(workers, 1)) {
  // Reflect padding needs more samples than the pad (demucs' pad1d adds zeros otherwise; a
  // training segment is always far longer, the config check guarantees length > nfft).
  if (length_ <= static_cast<std::int64_t>(pad_) + hop_)
    throw std::invalid_argument("DemucsSpectrogram: segment too short for the FFT size");
  const std::string name = tag + "/spectrogram";
  window_ = budget.reserve_array<float>(name, nfft_);
  padded_ = budget.reserve_array<float>(name, static_cast<std::size_t>(frames_) * hop_ + 2 * pad_);
  // Per-worker FFT buffers, nfft apart: every worker's buffers have the same alignment, so all
  // run the same FFTW plan (identical results whichever worker transforms a frame).
  const auto per_worker = static_cast<std::size_t>(nfft_) * workers_;
  frame_ = budget.reserve_array<float>(name, per_worker);
  spectrum_ = budget.reserve_array<dsp::Complex>(name, per_worker);
  signal_ = budget.reserve_array<dsp::Complex>(name, per_worker);
  envelope_ = budget.reserve_array<float>(name, static_cast<std::size_t>(length_));

  const auto hann = dsp::hann_window(static_cast<std::size_t>(nfft_), true);
  std::copy(hann.begin(), hann.end(), window_.as<float>().begin());
  // istft's envelope: window^2 overlap-added over all frames, including the two zero frames
  // _ispec adds on each side (they add window energy, not signal).
  float* env = envelope_.as<float>().data();
  const float* w = window_.as<float>().data();
  for (int t = -2; t < frames_ + 2; ++t) {
    const std::int64_t start = static_cast<std::int64_t>(t) * hop_ - pad_;
    for (int s = 0; s < nfft_; ++s) {
      const std::int64_t pos = start + s;
      if (pos >= 0 && pos < length_) env[pos] += w[s] * w[s];
    }
  }
  for (std::int64_t i = 0; i < length_; ++i) {
    if (!(env[i] > 1e-11f))
      throw std::invalid_argument("DemucsSpectrogram: window envelope vanishes");
  }
}

void DemucsSpectrogram::forward(const float* x, int channels, float* z, Workers& workers) {
  if (workers.size() > workers_)
    throw std::logic_error("DemucsSpectrogram: more workers than scratch buffers");
  const int bins = nfft_ / 2;
  const std::int64_t padded_len = static_cast<std::int64_t>(frames_) * hop_ + 2 * pad_;
  float* p = padded_.as<float>().data();
  const float* w = window_.as<float>().data();
  const float norm = 1.0f / std::sqrt(static_cast<float>(nfft_));
  const std::int64_t plane = static_cast<std::int64_t>(bins) * frames_;
  for (int c = 0; c < channels; ++c) {
    const float* xc = x + static_cast<std::int64_t>(c) * length_;
    // Reflect padding (edge sample not repeated): left pad_, right up to padded_len.
    for (std::int64_t i = 0; i < padded_len; ++i) {
      std::int64_t j = i - pad_;
      if (j < 0) j = -j;
      if (j >= length_) j = 2 * (length_ - 1) - j;
      p[i] = xc[j];
    }
    float* re = z + (2 * c) * plane;
    float* im = z + (2 * c + 1) * plane;
    workers.run(frames_, 1, [&](std::int64_t t0, std::int64_t t1, int worker) {
      float* frame = frame_.as<float>().data() + static_cast<std::int64_t>(worker) * nfft_;
      dsp::Complex* spec =
          spectrum_.as<dsp::Complex>().data() + static_cast<std::int64_t>(worker) * nfft_;
      for (std::int64_t t = t0; t < t1; ++t) {
        const float* src = p + t * hop_;
        for (int s = 0; s < nfft_; ++s) frame[s] = src[s] * w[s];
        fft_.forward({frame, static_cast<std::size_t>(nfft_)},
                     {spec, static_cast<std::size_t>(nfft_ / 2 + 1)});
        for (int f = 0; f < bins; ++f) {
          re[static_cast<std::int64_t>(f) * frames_ + t] = spec[f].real() * norm;
          im[static_cast<std::int64_t>(f) * frames_ + t] = spec[f].imag() * norm;
        }
      }
    });
  }
}

void DemucsSpectrogram::inverse(const float* z, int channels, float* out, Workers& workers) {
  if (workers.size() > workers_)
    throw std::logic_error("DemucsSpectrogram: more workers than scratch buffers");
  const int bins = nfft_ / 2;
  const float* w = window_.as<float>().data();
  const float* env = envelope_.as<float>().data();
  // torch.istft(normalized=True) runs irfft with 1/sqrt(n) instead of 1/n.
  const float norm = 1.0f / std::sqrt(static_cast<float>(nfft_));
  const std::int64_t plane = static_cast<std::int64_t>(bins) * frames_;
  workers.run(channels, 1, [&](std::int64_t c0, std::int64_t c1, int worker) {
    float* frame = frame_.as<float>().data() + static_cast<std::int64_t>(worker) * nfft_;
    dsp::Complex* spec =
        spectrum_.as<dsp::Complex>().data() + static_cast<std::int64_t>(worker) * nfft_;
    dsp::Complex* sig =
        signal_.as<dsp::Complex>().data() + static_cast<std::int64_t>(worker) * nfft_;
    for (std::int64_t c = c0; c < c1; ++c) {
      const float* re = z + (2 * c) * plane;
      const float* im = z + (2 * c + 1) * plane;
      float* o = out + c * length_;
      std::fill(o, o + length_, 0.0f);
      for (int t = 0; t < frames_; ++t) {
        for (int f = 0; f < bins; ++f) {
          spec[f] = {re[static_cast<std::int64_t>(f) * frames_ + t],
                     im[static_cast<std::int64_t>(f) * frames_ + t]};
        }
        // Hermitian completion: bin 0 real (its imaginary part is ignored, as by irfft), the
        // Nyquist bin zero (demucs pads it), bin n-f the conjugate of bin f.
        spec[0] = {spec[0].real(), 0.0f};
        spec[bins] = {0.0f, 0.0f};
        for (int f = 1; f < bins; ++f) spec[nfft_ - f] = std::conj(spec[f]);
        ifft_.inverse({spec, static_cast<std::size_t>(nfft_)},
                      {sig, static_cast<std::size_t>(nfft_)});
        for (int s = 0; s < nfft_; ++s) frame[s] = sig[s].real();
        const std::int64_t start = static_cast<std::int64_t>(t) * hop_ - pad_;
        const int s0 = static_cast<int>(std::max<std::int64_t>(0, -start));
        const int s1 = static_cast<int>(std::min<std::int64_t>(nfft_, length_ - start));
        for (int s = s0; s < s1; ++s) o[start + s] += frame[s] * norm * w[s];
      }
      for (std::int64_t i = 0; i < length_; ++i) o[i] /= env[i];
    }
  });
}

}  // namespace earshot::htdemucs
