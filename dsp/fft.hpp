// Fast Fourier transforms of any length, backed by single-precision FFTW.
//
// Scaling convention (the same as FFTW and numpy's "backward" norm for the forward direction):
//   forward:  X[k] = sum_t x[t] * exp(-2*pi*i*k*t/n)          (unnormalised)
//   inverse:  x[t] = sum_k X[k] * exp(+2*pi*i*k*t/n)          (ALSO unnormalised)
// so inverse(forward(x)) == n * x. Callers that want torch/numpy's irfft/ifft scale by 1/n
// themselves (the STFT folds it into its window, which costs nothing).
//
// Plans are created once in the constructor (FFTW's planner is not thread-safe, so every plan
// creation and destruction in this process goes through one global mutex). forward()/inverse()
// use FFTW's new-array execute functions, so one plan serves any buffers; they allocate nothing,
// lock nothing and are safe to call concurrently from several threads on the same object.
// Buffers of any alignment work: aligned buffers (e.g. from fftwf_malloc or 16-byte aligned
// std::vector storage) take the SIMD plan, others a plan made with FFTW_UNALIGNED.
// Input and output must not overlap (the plans are out-of-place).
#pragma once

#include <complex>
#include <cstddef>
#include <memory>
#include <span>

namespace earshot::dsp {

using Complex = std::complex<float>;  // layout-compatible with fftwf_complex

enum class FftPlanning {
  Estimate,  // fast to construct, deterministic plan choice (bit-identical runs). The default.
  Measure,   // times candidate algorithms at construction: faster execution, slower start.
};

// Real input of length n <-> the n/2+1 non-negative-frequency bins (the others are conjugates).
class RealFft {
 public:
  explicit RealFft(std::size_t n, FftPlanning planning = FftPlanning::Estimate);
  ~RealFft();
  RealFft(RealFft&&) noexcept;
  RealFft& operator=(RealFft&&) noexcept;
  RealFft(const RealFft&) = delete;
  RealFft& operator=(const RealFft&) = delete;

  std::size_t size() const { return n_; }
  std::size_t bins() const { return n_ / 2 + 1; }

  // in: n samples; out: n/2+1 bins. Throws std::invalid_argument on wrong sizes or overlap.
  void forward(std::span<const float> in, std::span<Complex> out) const;
  // in: n/2+1 bins (the imaginary parts of bin 0 and, for even n, bin n/2 are ignored, as for
  // any Hermitian input); out: n samples, equal to n times the real inverse DFT. in is preserved.
  void inverse(std::span<const Complex> in, std::span<float> out) const;

 private:
  struct Plans;
  std::size_t n_ = 0;
  std::unique_ptr<Plans> plans_;
};

// Complex input of length n <-> n complex bins.
class ComplexFft {
 public:
  explicit ComplexFft(std::size_t n, FftPlanning planning = FftPlanning::Estimate);
  ~ComplexFft();
  ComplexFft(ComplexFft&&) noexcept;
  ComplexFft& operator=(ComplexFft&&) noexcept;
  ComplexFft(const ComplexFft&) = delete;
  ComplexFft& operator=(const ComplexFft&) = delete;

  std::size_t size() const { return n_; }

  void forward(std::span<const Complex> in, std::span<Complex> out) const;
  void inverse(std::span<const Complex> in, std::span<Complex> out) const;  // unnormalised

 private:
  struct Plans;
  std::size_t n_ = 0;
  std::unique_ptr<Plans> plans_;
};

}  // namespace earshot::dsp
