// libsoxr resampling: a sine keeps its frequency and amplitude, lengths follow the rate ratio,
// streaming in odd block sizes equals the offline helper, flush drains the tail.
#include "dsp/resampler.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <numbers>
#include <random>
#include <vector>

namespace earshot::dsp {
namespace {

std::vector<float> sine(double freq, double rate, std::size_t frames, std::size_t channels,
                        double amplitude) {
  std::vector<float> x(frames * channels);
  for (std::size_t t = 0; t < frames; ++t)
    for (std::size_t c = 0; c < channels; ++c)
      // Channel c is phase-shifted so a channel mix-up would show.
      x[t * channels + c] = static_cast<float>(
          amplitude * std::sin(2.0 * std::numbers::pi * freq * t / rate + 0.5 * c));
  return x;
}

struct SineFit {
  double amplitude;
  double phase;
  double residual_rms;  // what is left after removing the fitted sine: frequency errors show here
};

// Least-squares fit of a sine at `freq` over a whole number of cycles in [begin, begin + n).
SineFit fit_sine(const std::vector<float>& y, std::size_t channels, std::size_t channel,
                 double freq, double rate, std::size_t begin, std::size_t n) {
  double a = 0, b = 0;
  for (std::size_t t = begin; t < begin + n; ++t) {
    const double w = 2.0 * std::numbers::pi * freq * t / rate;
    a += y[t * channels + channel] * std::sin(w);
    b += y[t * channels + channel] * std::cos(w);
  }
  a *= 2.0 / n;
  b *= 2.0 / n;
  double residual = 0;
  for (std::size_t t = begin; t < begin + n; ++t) {
    const double w = 2.0 * std::numbers::pi * freq * t / rate;
    const double e = y[t * channels + channel] - (a * std::sin(w) + b * std::cos(w));
    residual += e * e;
  }
  return {std::hypot(a, b), std::atan2(b, a), std::sqrt(residual / n)};
}

TEST(Resampler, SineKeepsFrequencyAndAmplitude44100To16000) {
  const std::size_t channels = 2;
  const auto x = sine(1000.0, 44100.0, 44100, channels, 0.5);
  const auto y = resample(x, channels, 44100.0, 16000.0);
  const std::size_t frames = y.size() / channels;
  EXPECT_NEAR(static_cast<double>(frames), 16000.0, 2.0);
  for (std::size_t c = 0; c < channels; ++c) {
    // 8000 samples at 16 kHz = exactly 500 cycles of 1 kHz, away from the edges.
    const auto fit = fit_sine(y, channels, c, 1000.0, 16000.0, 4000, 8000);
    std::printf(
        "[ 44.1k->16k ] channel %zu: amplitude %.6f (in 0.5), residual rms %.2g, "
        "phase error %.2g rad, %zu frames (ideal 16000)\n",
        c, fit.amplitude, fit.residual_rms, fit.phase - 0.5 * c, frames);
    EXPECT_NEAR(fit.amplitude, 0.5, 1e-4) << "channel " << c;
    EXPECT_LT(fit.residual_rms, 1e-5) << "channel " << c;  // a wrong frequency leaves a beat
    // Zero-delay output: the phase is the input's (channel c shifted by 0.5 rad).
    EXPECT_NEAR(fit.phase, 0.5 * c, 1e-4) << "channel " << c;
  }
}

TEST(Resampler, UpsamplingAndOddRatiosKeepLengthRatio) {
  for (auto [in_rate, out_rate] : {std::pair{16000.0, 48000.0}, std::pair{22050.0, 16000.0},
                                   std::pair{48000.0, 44100.0}, std::pair{8000.0, 11025.0}}) {
    const std::size_t in_frames = 12345;
    const auto x = sine(440.0, in_rate, in_frames, 1, 0.25);
    const auto y = resample(x, 1, in_rate, out_rate);
    EXPECT_NEAR(static_cast<double>(y.size()), in_frames * out_rate / in_rate, 2.0)
        << in_rate << " -> " << out_rate;
    const auto fit = fit_sine(y, 1, 0, 440.0, out_rate, y.size() / 4, y.size() / 2);
    EXPECT_NEAR(fit.amplitude, 0.25, 2e-3) << in_rate << " -> " << out_rate;
  }
}

TEST(Resampler, StreamingBlocksMatchOfflineAndFlushDrains) {
  const std::size_t channels = 3;
  const auto x = sine(700.0, 44100.0, 30000, channels, 0.3);
  const auto offline = resample(x, channels, 44100.0, 16000.0);

  Resampler r(44100.0, 16000.0, channels);
  std::vector<float> streamed;
  std::vector<float> out(r.output_capacity(4096) * channels);
  std::mt19937 rng(5);
  std::uniform_int_distribution<std::size_t> block(1, 4096);
  std::size_t pos = 0;
  const std::size_t total = x.size() / channels;
  while (pos < total) {
    const std::size_t n = std::min(block(rng), total - pos);
    const std::size_t got =
        r.process(std::span<const float>(x).subspan(pos * channels, n * channels), out);
    streamed.insert(streamed.end(), out.begin(), out.begin() + got * channels);
    pos += n;
  }
  std::size_t before_flush = streamed.size() / channels;
  std::size_t flushed = 0;
  for (int i = 0; i < 100; ++i) {
    const std::size_t got = r.flush(out);
    if (got == 0) break;
    flushed += got;
    streamed.insert(streamed.end(), out.begin(), out.begin() + got * channels);
  }
  EXPECT_GT(flushed, 0u) << "the filter delay must come out at flush";
  EXPECT_EQ(r.flush(out), 0u) << "drained";
  EXPECT_LT(before_flush, offline.size() / channels);
  ASSERT_EQ(streamed.size(), offline.size());
  for (std::size_t i = 0; i < offline.size(); ++i) ASSERT_NEAR(streamed[i], offline[i], 1e-5) << i;

  // reset() starts a fresh stream: same input, same output.
  r.reset();
  std::vector<float> again;
  std::vector<float> big(r.output_capacity(total) * channels);
  std::size_t got = r.process(x, big);
  again.insert(again.end(), big.begin(), big.begin() + got * channels);
  while ((got = r.flush(big)) != 0)
    again.insert(again.end(), big.begin(), big.begin() + got * channels);
  ASSERT_EQ(again.size(), offline.size());
  for (std::size_t i = 0; i < offline.size(); ++i) ASSERT_NEAR(again[i], offline[i], 1e-5) << i;
}

TEST(Resampler, EqualRatesCopyAndBadArgumentsThrow) {
  const std::vector<float> x{1, 2, 3, 4};
  EXPECT_EQ(resample(x, 2, 16000, 16000), x);
  EXPECT_THROW(resample(x, 3, 16000, 8000), std::invalid_argument);
  EXPECT_THROW(resample(x, 0, 16000, 8000), std::invalid_argument);
  EXPECT_THROW(Resampler(0.0, 16000.0, 1), std::invalid_argument);
  EXPECT_THROW(Resampler(16000.0, -1.0, 1), std::invalid_argument);
  EXPECT_THROW(Resampler(16000.0, NAN, 1), std::invalid_argument);
  EXPECT_THROW(Resampler(16000.0, 8000.0, 0), std::invalid_argument);
  Resampler r(16000.0, 8000.0, 2);
  std::vector<float> small_out(4);
  EXPECT_THROW(r.process(std::vector<float>(100), small_out), std::invalid_argument);
  std::vector<float> out(r.output_capacity(50) * 2);
  EXPECT_THROW(r.process(std::vector<float>(101), out), std::invalid_argument);  // odd samples
  EXPECT_EQ(r.process({}, out), 0u);
}

}  // namespace
}  // namespace earshot::dsp
