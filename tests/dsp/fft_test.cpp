// FFT against a double-precision naive DFT, for many lengths (powers of two, primes, Whisper's
// 400, demucs' 4096), plus round trips, odd alignments, threads and bad arguments.
#include "dsp/fft.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <complex>
#include <numbers>
#include <random>
#include <thread>
#include <vector>

namespace earshot::dsp {
namespace {

using CD = std::complex<double>;

std::vector<CD> naive_dft(const std::vector<CD>& x, int sign) {
  const std::size_t n = x.size();
  // Twiddles indexed by (k*t) mod n: exact angles and no trig in the O(n^2) loop.
  std::vector<CD> twiddle(n);
  for (std::size_t j = 0; j < n; ++j) {
    const double angle =
        sign * 2.0 * std::numbers::pi * static_cast<double>(j) / static_cast<double>(n);
    twiddle[j] = CD(std::cos(angle), std::sin(angle));
  }
  std::vector<CD> out(n);
  for (std::size_t k = 0; k < n; ++k) {
    CD sum = 0;
    std::size_t j = 0;
    for (std::size_t t = 0; t < n; ++t) {
      sum += x[t] * twiddle[j];
      j += k;
      if (j >= n) j -= n;
    }
    out[k] = sum;
  }
  return out;
}

std::vector<float> random_signal(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> x(n);
  for (auto& v : x) v = dist(rng);
  return x;
}

// float32 FFT error grows like eps * log(n) * ||x||; ||x||_2 bounds every bin.
double tolerance(std::size_t n) {
  return 2e-6 * std::sqrt(static_cast<double>(n)) * 4.0;
}

class RealFftSizes : public ::testing::TestWithParam<std::size_t> {};

TEST_P(RealFftSizes, ForwardMatchesNaiveDft) {
  const std::size_t n = GetParam();
  const auto x = random_signal(n, static_cast<unsigned>(n));
  std::vector<CD> xd(x.begin(), x.end());
  const auto ref = naive_dft(xd, -1);

  RealFft fft(n);
  ASSERT_EQ(fft.bins(), n / 2 + 1);
  std::vector<Complex> out(fft.bins());
  fft.forward(x, out);
  double max_err = 0;
  for (std::size_t k = 0; k < fft.bins(); ++k)
    max_err = std::max(max_err, std::abs(CD(out[k]) - ref[k]));
  EXPECT_LE(max_err, tolerance(n)) << "n=" << n;
}

TEST_P(RealFftSizes, InverseIsUnnormalisedRealIdft) {
  const std::size_t n = GetParam();
  // A Hermitian spectrum from a known real signal: inverse must give n * signal.
  const auto x = random_signal(n, static_cast<unsigned>(n) + 7);
  std::vector<CD> xd(x.begin(), x.end());
  const auto spectrum = naive_dft(xd, -1);
  std::vector<Complex> half(n / 2 + 1);
  for (std::size_t k = 0; k < half.size(); ++k) half[k] = Complex(spectrum[k]);
  const auto half_copy = half;

  RealFft fft(n);
  std::vector<float> out(n);
  fft.inverse(half, out);
  double max_err = 0;
  for (std::size_t t = 0; t < n; ++t)
    max_err = std::max(max_err, std::abs(out[t] / static_cast<double>(n) - x[t]));
  EXPECT_LE(max_err, 1e-5) << "n=" << n;
  EXPECT_EQ(half, half_copy) << "inverse must preserve its input";
}

TEST_P(RealFftSizes, RoundTripScalesByN) {
  const std::size_t n = GetParam();
  const auto x = random_signal(n, 99);
  RealFft fft(n);
  std::vector<Complex> spec(fft.bins());
  std::vector<float> back(n);
  fft.forward(x, spec);
  fft.inverse(spec, back);
  for (std::size_t t = 0; t < n; ++t)
    ASSERT_NEAR(back[t], static_cast<float>(n) * x[t], 1e-5 * n) << "n=" << n << " t=" << t;
}

INSTANTIATE_TEST_SUITE_P(Lengths, RealFftSizes,
                         ::testing::Values(1, 2, 3, 4, 5, 7, 8, 12, 16, 97, 100, 128, 400, 401, 512,
                                           1000, 1024, 4096));

class ComplexFftSizes : public ::testing::TestWithParam<std::size_t> {};

TEST_P(ComplexFftSizes, ForwardAndInverseMatchNaiveDft) {
  const std::size_t n = GetParam();
  const auto re = random_signal(n, 3);
  const auto im = random_signal(n, 4);
  std::vector<Complex> x(n);
  std::vector<CD> xd(n);
  for (std::size_t t = 0; t < n; ++t) {
    x[t] = Complex(re[t], im[t]);
    xd[t] = CD(re[t], im[t]);
  }
  ComplexFft fft(n);
  std::vector<Complex> out(n);
  for (int sign : {-1, +1}) {
    const auto ref = naive_dft(xd, sign);
    if (sign < 0) {
      fft.forward(x, out);
    } else {
      fft.inverse(x, out);
    }
    double max_err = 0;
    for (std::size_t k = 0; k < n; ++k) max_err = std::max(max_err, std::abs(CD(out[k]) - ref[k]));
    EXPECT_LE(max_err, 2.0 * tolerance(n)) << "n=" << n << " sign=" << sign;
  }
}

INSTANTIATE_TEST_SUITE_P(Lengths, ComplexFftSizes,
                         ::testing::Values(1, 2, 3, 6, 16, 17, 400, 1024, 4096));

TEST(RealFft, UnalignedBuffersGiveTheSameResult) {
  const std::size_t n = 400;
  const auto x = random_signal(n, 5);
  RealFft fft(n);
  std::vector<Complex> aligned(fft.bins());
  fft.forward(x, aligned);

  // Shift input by one float and output by one float inside larger buffers: never SIMD-aligned.
  std::vector<float> in_storage(n + 1);
  std::copy(x.begin(), x.end(), in_storage.begin() + 1);
  std::vector<float> out_storage(2 * fft.bins() + 1);
  auto* out_ptr = reinterpret_cast<Complex*>(out_storage.data() + 1);
  fft.forward(std::span<const float>(in_storage.data() + 1, n),
              std::span<Complex>(out_ptr, fft.bins()));
  for (std::size_t k = 0; k < fft.bins(); ++k) {
    EXPECT_NEAR(out_ptr[k].real(), aligned[k].real(), 1e-4);
    EXPECT_NEAR(out_ptr[k].imag(), aligned[k].imag(), 1e-4);
  }
  std::vector<float> back_storage(n + 1);
  fft.inverse(aligned, std::span<float>(back_storage.data() + 1, n));
  for (std::size_t t = 0; t < n; ++t) EXPECT_NEAR(back_storage[t + 1] / n, x[t], 1e-5);
}

TEST(RealFft, MeasurePlanningAgreesWithEstimate) {
  const std::size_t n = 4096;
  const auto x = random_signal(n, 11);
  RealFft a(n, FftPlanning::Estimate);
  RealFft b(n, FftPlanning::Measure);
  std::vector<Complex> ya(a.bins()), yb(b.bins());
  a.forward(x, ya);
  b.forward(x, yb);
  for (std::size_t k = 0; k < ya.size(); ++k) EXPECT_LE(std::abs(ya[k] - yb[k]), tolerance(n));
}

TEST(RealFft, ConcurrentConstructionAndExecutionAreSafe) {
  // Plans are created under a global mutex; execution on one shared plan is concurrent.
  const auto x = random_signal(1024, 21);
  RealFft shared(1024);
  std::vector<Complex> expected(shared.bins());
  shared.forward(x, expected);
  std::vector<std::thread> threads;
  std::vector<int> ok(4, 0);
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      bool good = true;
      for (int rep = 0; rep < 20; ++rep) {
        RealFft own(static_cast<std::size_t>(64 + 16 * i + rep));
        std::vector<Complex> out(shared.bins());
        shared.forward(x, out);
        good = good && out == expected;
      }
      ok[static_cast<std::size_t>(i)] = good ? 1 : 0;
    });
  }
  for (auto& t : threads) t.join();
  for (int v : ok) EXPECT_EQ(v, 1);
}

TEST(RealFft, RejectsBadArguments) {
  EXPECT_THROW(RealFft(0), std::invalid_argument);
  EXPECT_THROW(ComplexFft(0), std::invalid_argument);
  RealFft fft(8);
  std::vector<float> in(8), short_in(7), out_real(8);
  std::vector<Complex> spec(5), short_spec(4);
  EXPECT_THROW(fft.forward(short_in, spec), std::invalid_argument);
  EXPECT_THROW(fft.forward(in, short_spec), std::invalid_argument);
  EXPECT_THROW(fft.inverse(short_spec, out_real), std::invalid_argument);
  EXPECT_THROW(fft.inverse(spec, short_in), std::invalid_argument);
  // Overlapping input and output (in-place) is refused rather than silently wrong.
  std::vector<float> buffer(10);
  EXPECT_THROW(fft.forward(std::span<const float>(buffer.data(), 8),
                           std::span<Complex>(reinterpret_cast<Complex*>(buffer.data()), 5)),
               std::invalid_argument);
}

TEST(RealFft, MoveKeepsThePlan) {
  RealFft a(16);
  RealFft b = std::move(a);
  std::vector<float> x(16, 1.0f);
  std::vector<Complex> y(9);
  b.forward(x, y);
  EXPECT_NEAR(y[0].real(), 16.0f, 1e-5);
  for (std::size_t k = 1; k < y.size(); ++k) EXPECT_NEAR(std::abs(y[k]), 0.0f, 1e-5);
}

}  // namespace
}  // namespace earshot::dsp
