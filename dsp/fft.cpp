#include "dsp/fft.hpp"

#include <fftw3.h>

#include <cstdint>
#include <mutex>
#include <new>
#include <stdexcept>
#include <string>

namespace earshot::dsp {
namespace {

static_assert(sizeof(Complex) == sizeof(fftwf_complex), "std::complex<float> must match FFTW");

// FFTW's planner (plan creation and destruction) is not thread-safe; execution is.
std::mutex& planner_mutex() {
  static std::mutex mutex;
  return mutex;
}

unsigned planner_flags(FftPlanning planning) {
  return planning == FftPlanning::Measure ? FFTW_MEASURE : FFTW_ESTIMATE;
}

// fftwf_malloc'd scratch used only while planning (FFTW_MEASURE overwrites it).
struct FftwBuffer {
  explicit FftwBuffer(std::size_t bytes) : ptr(fftwf_malloc(bytes == 0 ? 1 : bytes)) {
    if (ptr == nullptr) throw std::bad_alloc();
  }
  ~FftwBuffer() { fftwf_free(ptr); }
  FftwBuffer(const FftwBuffer&) = delete;
  FftwBuffer& operator=(const FftwBuffer&) = delete;
  void* ptr;
};

void check_size(std::size_t n, const char* what) {
  if (n == 0) throw std::invalid_argument(std::string(what) + ": transform length must be > 0");
  if (n > static_cast<std::size_t>(INT32_MAX))
    throw std::invalid_argument(std::string(what) + ": transform length too large for FFTW");
}

void check_span(std::size_t got, std::size_t want, const char* what) {
  if (got != want)
    throw std::invalid_argument(std::string(what) + ": expected " + std::to_string(want) +
                                " elements, got " + std::to_string(got));
}

void check_no_overlap(const void* a, std::size_t a_bytes, const void* b, std::size_t b_bytes,
                      const char* what) {
  const auto a0 = reinterpret_cast<std::uintptr_t>(a);
  const auto b0 = reinterpret_cast<std::uintptr_t>(b);
  if (a0 < b0 + b_bytes && b0 < a0 + a_bytes)
    throw std::invalid_argument(std::string(what) + ": input and output must not overlap");
}

bool simd_aligned(const void* a, const void* b) {
  return fftwf_alignment_of(static_cast<float*>(const_cast<void*>(a))) == 0 &&
         fftwf_alignment_of(static_cast<float*>(const_cast<void*>(b))) == 0;
}

void destroy(fftwf_plan& plan) {
  if (plan != nullptr) fftwf_destroy_plan(plan);
  plan = nullptr;
}

fftwf_complex* as_fftw(const Complex* p) {
  return reinterpret_cast<fftwf_complex*>(const_cast<Complex*>(p));
}

// Each direction has a plan for SIMD-aligned buffers and one made with FFTW_UNALIGNED.
struct PlanSet {
  fftwf_plan forward_aligned = nullptr;
  fftwf_plan forward_unaligned = nullptr;
  fftwf_plan inverse_aligned = nullptr;
  fftwf_plan inverse_unaligned = nullptr;

  PlanSet() = default;
  PlanSet(const PlanSet&) = delete;
  PlanSet& operator=(const PlanSet&) = delete;
  ~PlanSet() {
    std::lock_guard<std::mutex> lock(planner_mutex());
    destroy(forward_aligned);
    destroy(forward_unaligned);
    destroy(inverse_aligned);
    destroy(inverse_unaligned);
  }
  bool complete() const {
    return forward_aligned && forward_unaligned && inverse_aligned && inverse_unaligned;
  }
};

}  // namespace

// ---------------------------------------------------------------------------------------------
// RealFft

struct RealFft::Plans : PlanSet {};

RealFft::RealFft(std::size_t n, FftPlanning planning) : n_(n), plans_(std::make_unique<Plans>()) {
  check_size(n, "RealFft");
  const int len = static_cast<int>(n);
  FftwBuffer real(n * sizeof(float));
  FftwBuffer spectrum(bins() * sizeof(fftwf_complex));
  auto* r = static_cast<float*>(real.ptr);
  auto* c = static_cast<fftwf_complex*>(spectrum.ptr);
  // The c2r plans must not destroy their input (FFTW's default for c2r), so callers can pass
  // const spectra and no copy is needed.
  const unsigned flags = planner_flags(planning) | FFTW_PRESERVE_INPUT;
  std::lock_guard<std::mutex> lock(planner_mutex());
  plans_->forward_aligned = fftwf_plan_dft_r2c_1d(len, r, c, flags);
  plans_->forward_unaligned = fftwf_plan_dft_r2c_1d(len, r, c, flags | FFTW_UNALIGNED);
  plans_->inverse_aligned = fftwf_plan_dft_c2r_1d(len, c, r, flags);
  plans_->inverse_unaligned = fftwf_plan_dft_c2r_1d(len, c, r, flags | FFTW_UNALIGNED);
  if (!plans_->complete())
    throw std::runtime_error("RealFft: FFTW could not plan a transform of length " +
                             std::to_string(n));
}

RealFft::~RealFft() = default;
RealFft::RealFft(RealFft&&) noexcept = default;
RealFft& RealFft::operator=(RealFft&&) noexcept = default;

void RealFft::forward(std::span<const float> in, std::span<Complex> out) const {
  check_span(in.size(), n_, "RealFft::forward input");
  check_span(out.size(), bins(), "RealFft::forward output");
  check_no_overlap(in.data(), in.size_bytes(), out.data(), out.size_bytes(), "RealFft::forward");
  fftwf_plan plan =
      simd_aligned(in.data(), out.data()) ? plans_->forward_aligned : plans_->forward_unaligned;
  fftwf_execute_dft_r2c(plan, const_cast<float*>(in.data()), as_fftw(out.data()));
}

void RealFft::inverse(std::span<const Complex> in, std::span<float> out) const {
  check_span(in.size(), bins(), "RealFft::inverse input");
  check_span(out.size(), n_, "RealFft::inverse output");
  check_no_overlap(in.data(), in.size_bytes(), out.data(), out.size_bytes(), "RealFft::inverse");
  fftwf_plan plan =
      simd_aligned(in.data(), out.data()) ? plans_->inverse_aligned : plans_->inverse_unaligned;
  fftwf_execute_dft_c2r(plan, as_fftw(in.data()), out.data());
}

// ---------------------------------------------------------------------------------------------
// ComplexFft

struct ComplexFft::Plans : PlanSet {};

ComplexFft::ComplexFft(std::size_t n, FftPlanning planning)
    : n_(n), plans_(std::make_unique<Plans>()) {
  check_size(n, "ComplexFft");
  const int len = static_cast<int>(n);
  FftwBuffer a(n * sizeof(fftwf_complex));
  FftwBuffer b(n * sizeof(fftwf_complex));
  auto* x = static_cast<fftwf_complex*>(a.ptr);
  auto* y = static_cast<fftwf_complex*>(b.ptr);
  const unsigned flags = planner_flags(planning) | FFTW_PRESERVE_INPUT;
  std::lock_guard<std::mutex> lock(planner_mutex());
  plans_->forward_aligned = fftwf_plan_dft_1d(len, x, y, FFTW_FORWARD, flags);
  plans_->forward_unaligned = fftwf_plan_dft_1d(len, x, y, FFTW_FORWARD, flags | FFTW_UNALIGNED);
  plans_->inverse_aligned = fftwf_plan_dft_1d(len, x, y, FFTW_BACKWARD, flags);
  plans_->inverse_unaligned = fftwf_plan_dft_1d(len, x, y, FFTW_BACKWARD, flags | FFTW_UNALIGNED);
  if (!plans_->complete())
    throw std::runtime_error("ComplexFft: FFTW could not plan a transform of length " +
                             std::to_string(n));
}

ComplexFft::~ComplexFft() = default;
ComplexFft::ComplexFft(ComplexFft&&) noexcept = default;
ComplexFft& ComplexFft::operator=(ComplexFft&&) noexcept = default;

void ComplexFft::forward(std::span<const Complex> in, std::span<Complex> out) const {
  check_span(in.size(), n_, "ComplexFft::forward input");
  check_span(out.size(), n_, "ComplexFft::forward output");
  check_no_overlap(in.data(), in.size_bytes(), out.data(), out.size_bytes(), "ComplexFft::forward");
  fftwf_plan plan =
      simd_aligned(in.data(), out.data()) ? plans_->forward_aligned : plans_->forward_unaligned;
  fftwf_execute_dft(plan, as_fftw(in.data()), as_fftw(out.data()));
}

void ComplexFft::inverse(std::span<const Complex> in, std::span<Complex> out) const {
  check_span(in.size(), n_, "ComplexFft::inverse input");
  check_span(out.size(), n_, "ComplexFft::inverse output");
  check_no_overlap(in.data(), in.size_bytes(), out.data(), out.size_bytes(), "ComplexFft::inverse");
  fftwf_plan plan =
      simd_aligned(in.data(), out.data()) ? plans_->inverse_aligned : plans_->inverse_unaligned;
  fftwf_execute_dft(plan, as_fftw(in.data()), as_fftw(out.data()));
}

}  // namespace earshot::dsp
