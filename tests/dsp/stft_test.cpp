// STFT against a direct double-precision evaluation of torch.stft's definition, and perfect
// reconstruction of iSTFT(STFT(x)) for the configurations the models use.
#include "dsp/stft.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <complex>
#include <numbers>
#include <random>
#include <vector>

#include "dsp/window.hpp"

namespace earshot::dsp {
namespace {

using CD = std::complex<double>;

std::vector<float> random_signal(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> x(n);
  for (auto& v : x) v = dist(rng);
  return x;
}

// torch.stft written out literally: pad, slice frames, window, DFT (double precision).
std::vector<CD> reference_stft(const std::vector<float>& x, const StftOptions& o) {
  std::vector<double> padded;
  const std::size_t pad = o.center ? o.n_fft / 2 : 0;
  const auto n = static_cast<std::ptrdiff_t>(x.size());
  for (std::ptrdiff_t i = -static_cast<std::ptrdiff_t>(pad);
       i < n + static_cast<std::ptrdiff_t>(pad); ++i) {
    if (i >= 0 && i < n) {
      padded.push_back(x[static_cast<std::size_t>(i)]);
    } else if (o.pad_mode == PadMode::Reflect) {
      padded.push_back(x[static_cast<std::size_t>(i < 0 ? -i : 2 * (n - 1) - i)]);
    } else {
      padded.push_back(0.0);
    }
  }
  std::vector<float> window = o.window.empty() ? std::vector<float>(o.n_fft, 1.0f) : o.window;
  window = center_window(window, o.n_fft);
  const std::size_t frames = 1 + (padded.size() - o.n_fft) / o.hop;
  const std::size_t bins = o.onesided ? o.n_fft / 2 + 1 : o.n_fft;
  const double scale = o.normalized ? 1.0 / std::sqrt(static_cast<double>(o.n_fft)) : 1.0;
  std::vector<CD> out(bins * frames);
  for (std::size_t t = 0; t < frames; ++t) {
    for (std::size_t k = 0; k < bins; ++k) {
      CD sum = 0;
      for (std::size_t j = 0; j < o.n_fft; ++j) {
        const double angle = -2.0 * std::numbers::pi * static_cast<double>((k * j) % o.n_fft) /
                             static_cast<double>(o.n_fft);
        sum += padded[t * o.hop + j] * window[j] * CD(std::cos(angle), std::sin(angle));
      }
      out[k * frames + t] = sum * scale;
    }
  }
  return out;
}

void expect_matches_reference(const StftOptions& options, std::size_t n, const char* label) {
  const auto x = random_signal(n, 42);
  Stft stft(options, n);
  const std::size_t frames = stft.frames(n);
  std::vector<Complex> out(stft.bins() * frames);
  stft.forward(x, out);
  const auto ref = reference_stft(x, options);
  ASSERT_EQ(ref.size(), out.size()) << label;
  double max_err = 0;
  for (std::size_t i = 0; i < out.size(); ++i)
    max_err = std::max(max_err, std::abs(CD(out[i]) - ref[i]));
  EXPECT_LE(max_err, 1e-5 * std::sqrt(static_cast<double>(options.n_fft))) << label;
}

TEST(Stft, CenteredReflectHannMatchesDefinition) {
  StftOptions o{.n_fft = 16, .hop = 4, .window = hann_window(16)};
  expect_matches_reference(o, 50, "reflect hann");
}

TEST(Stft, OptionVariantsMatchDefinition) {
  StftOptions zeros{.n_fft = 15, .hop = 5, .window = hann_window(15), .pad_mode = PadMode::Zeros};
  expect_matches_reference(zeros, 37, "odd n_fft, zero padding");
  StftOptions normalized{.n_fft = 32, .hop = 8, .window = hann_window(32), .normalized = true};
  expect_matches_reference(normalized, 100, "normalized");
  StftOptions twosided{.n_fft = 12, .hop = 3, .window = hann_window(12), .onesided = false};
  expect_matches_reference(twosided, 40, "two-sided");
  StftOptions uncentred{.n_fft = 16, .hop = 6, .window = hann_window(16), .center = false};
  expect_matches_reference(uncentred, 61, "center=false");
  StftOptions short_window{.n_fft = 16, .hop = 4, .window = hann_window(10)};
  expect_matches_reference(short_window, 45, "win_length < n_fft");
  StftOptions rectangular{.n_fft = 8, .hop = 8};
  expect_matches_reference(rectangular, 33, "default rectangular window");
}

TEST(Stft, FrameCountsFollowTorch) {
  Stft whisper({.n_fft = 400, .hop = 160, .window = hann_window(400)}, 480000);
  EXPECT_EQ(whisper.frames(480000), 3001u);  // Whisper drops the last one: 3000
  EXPECT_EQ(whisper.bins(), 201u);
  Stft uncentred({.n_fft = 400, .hop = 160, .center = false}, 1000);
  EXPECT_EQ(uncentred.frames(399), 0u);
  EXPECT_EQ(uncentred.frames(400), 1u);
  EXPECT_EQ(uncentred.frames(720), 3u);
}

double max_reconstruction_error(const StftOptions& options, std::size_t n) {
  const auto x = random_signal(n, 7);
  Stft stft(options, n);
  const std::size_t frames = stft.frames(n);
  std::vector<Complex> spec(stft.bins() * frames);
  stft.forward(x, spec);
  std::vector<float> y(n);
  stft.inverse(spec, frames, y);
  double max_err = 0;
  for (std::size_t i = 0; i < n; ++i) max_err = std::max(max_err, std::abs(double(y[i]) - x[i]));
  return max_err;
}

TEST(Stft, PerfectReconstructionHannQuarterHop) {
  // HTDemucs' configuration: nfft 4096, hop 1024, normalized, 7.8 s at 44.1 kHz.
  EXPECT_LE(
      max_reconstruction_error(
          {.n_fft = 4096, .hop = 1024, .window = hann_window(4096), .normalized = true}, 343980),
      1e-5);
  EXPECT_LE(max_reconstruction_error({.n_fft = 400, .hop = 100, .window = hann_window(400)}, 16000),
            1e-5);
  EXPECT_LE(max_reconstruction_error({.n_fft = 64,
                                      .hop = 16,
                                      .window = hann_window(64),
                                      .pad_mode = PadMode::Zeros,
                                      .onesided = false},
                                     1001),
            1e-5);
}

TEST(Stft, InverseHonoursLengthAndZeroFillsPastTheEnd) {
  const std::size_t n = 1000;
  const auto x = random_signal(n, 3);
  Stft stft({.n_fft = 64, .hop = 16, .window = hann_window(64)}, 2000);
  const std::size_t frames = stft.frames(n);
  std::vector<Complex> spec(stft.bins() * frames);
  stft.forward(x, spec);
  std::vector<float> shorter(500);
  stft.inverse(spec, frames, shorter);
  for (std::size_t i = 0; i < shorter.size(); ++i) ASSERT_NEAR(shorter[i], x[i], 1e-5);
  // Available: n_fft + hop*(frames-1) - n_fft/2 = 64 + 16*62 - 32 = 1024 samples; the rest is zero
  // (torch pads).
  std::vector<float> longer(1500, 123.0f);
  stft.inverse(spec, frames, longer);
  for (std::size_t i = 0; i < n; ++i) ASSERT_NEAR(longer[i], x[i], 1e-5);
  for (std::size_t i = 1024; i < longer.size(); ++i) ASSERT_EQ(longer[i], 0.0f);
}

TEST(Stft, RejectsBadArgumentsWithMessages) {
  EXPECT_THROW(Stft({.n_fft = 0, .hop = 1}, 10), std::invalid_argument);
  EXPECT_THROW(Stft({.n_fft = 8, .hop = 0}, 10), std::invalid_argument);
  EXPECT_THROW(Stft({.n_fft = 8, .hop = 2, .window = std::vector<float>(9, 1.0f)}, 10),
               std::invalid_argument);
  Stft stft({.n_fft = 16, .hop = 4, .window = hann_window(16)}, 100);
  std::vector<Complex> spec(stft.bins() * stft.frames(100));
  EXPECT_THROW(stft.forward(std::vector<float>(101), spec), std::invalid_argument);  // too long
  EXPECT_THROW(stft.forward(std::vector<float>(8), spec), std::invalid_argument);    // reflect
  EXPECT_THROW(stft.forward(std::vector<float>(100), std::span<Complex>(spec).first(3)),
               std::invalid_argument);
  std::vector<float> out(100);
  EXPECT_THROW(stft.inverse(spec, stft.frames(100) + 1, out), std::invalid_argument);
  // A window that is zero where frames meet cannot be inverted: clear error, not NaN.
  Stft gappy({.n_fft = 8, .hop = 8, .window = hann_window(8, false)}, 64);
  std::vector<float> x(64, 1.0f);
  std::vector<Complex> s(gappy.bins() * gappy.frames(64));
  gappy.forward(x, s);
  std::vector<float> y(64);
  try {
    gappy.inverse(s, gappy.frames(64), y);
    FAIL() << "expected NOLA error";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("NOLA"), std::string::npos);
  }
}

}  // namespace
}  // namespace earshot::dsp
