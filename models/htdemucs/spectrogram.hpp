// Demucs' own spectrogram (HTDemucs._spec / _ispec) for one training-length segment.
//
// _spec reflect-pads the signal by 3*hop/2 on both sides (plus up to a whole hop on the right
// so the length is a multiple of the hop), runs torch.stft(nfft, hop, hann, normalized,
// center=True), drops the Nyquist bin and keeps frames [2, 2 + ceil(L/hop)). The crop makes
// the stft's own centre padding fall away: kept frame t is exactly padded[t*hop, t*hop+nfft),
// i.e. samples [t*hop - 3*hop/2, t*hop + nfft - 3*hop/2) of the signal. _ispec is the mirror:
// a zero Nyquist bin and two zero frames on each side, torch.istft (window^2-normalised
// overlap-add), then samples [3*hop/2, 3*hop/2 + L) of the centred output.
//
// The output is "complex as channels" (CaC): channel 2c is the real and 2c+1 the imaginary
// part of audio channel c, [2C][nfft/2][frames] -- demucs' _magnitude with cac=True.
#pragma once

#include "dsp/fft.hpp"
#include "models/htdemucs/ops.hpp"
#include "rt/memory_budget.hpp"

#include <cstdint>
#include <string>

namespace earshot::htdemucs {

class DemucsSpectrogram {
 public:
  // Everything is reserved here (FFT scratch for up to `workers` workers); forward()/inverse()
  // allocate nothing.
  DemucsSpectrogram(int nfft, std::int64_t length, rt::MemoryBudget& budget, const std::string& tag,
                    int workers = 1);

  int bins() const { return nfft_ / 2; }
  int frames() const { return frames_; }
  std::int64_t length() const { return length_; }

  // x: [channels][length] -> z: [2*channels][bins][frames]; frames split across the workers.
  void forward(const float* x, int channels, float* z, Workers& workers);
  // z: [2*channels][bins][frames] -> out: [channels][length] (overwritten); channels split
  // across the workers.
  void inverse(const float* z, int channels, float* out, Workers& workers);

 private:
  int nfft_;
  int hop_;
  int pad_;  // 3 * hop / 2
  std::int64_t length_;
  int frames_;
  dsp::RealFft fft_;
  // The inverse runs as a complex FFT of the Hermitian-completed spectrum: FFTW's c2r plans
  // that preserve their input allocate a buffer on every execute, the c2c plan does not.
  dsp::ComplexFft ifft_;
  rt::Reservation window_;  // nfft
  rt::Reservation padded_;  // frames*hop + 2*pad
  int workers_;
  rt::Reservation frame_;     // nfft per worker
  rt::Reservation spectrum_;  // nfft complex per worker (the forward uses the first nfft/2+1)
  rt::Reservation signal_;    // nfft complex per worker: the inverse FFT output
  rt::Reservation envelope_;  // length: overlap-added window^2
};

}  // namespace earshot::htdemucs
