// Stft against real torch.stft output: HTDemucs' `_spec` (reflect pad, normalized Hann STFT with
// nfft 4096 / hop 1024, drop the Nyquist bin, keep frames 2..2+le) written with dsp::Stft, compared
// with `dbg_z_cac` in the htdemucs small4 fixture. README: relative L2 <= 1e-4 (expect ~1e-6).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <vector>

#include "dsp/stft.hpp"
#include "dsp/window.hpp"
#include "models/core/safetensors.hpp"
#include "tests/test_support.hpp"

namespace earshot::dsp {
namespace {

TEST(StftTorchFixture, ReproducesHtdemucsSpectrogram) {
  const auto ref = models::SafetensorsFile::open(test::fixture("htdemucs/small4/ref.safetensors"));
  const auto& in_info = ref.info("segment_in");
  ASSERT_EQ(in_info.shape.size(), 3u);
  const auto length = static_cast<std::size_t>(in_info.shape[2]);
  const auto segment = ref.load_f32("segment_in");  // [1, 2, L]
  const auto& z_info = ref.info("dbg_z_cac");       // [1, 4, 2048, F]
  const auto expected = ref.load_f32("dbg_z_cac");

  const std::size_t hop = 1024, n_fft = 4096;
  const std::size_t le = (length + hop - 1) / hop;
  ASSERT_EQ(static_cast<std::size_t>(z_info.shape[3]), le);
  ASSERT_EQ(static_cast<std::size_t>(z_info.shape[2]), n_fft / 2);
  const std::size_t pad_left = hop / 2 * 3;
  const std::size_t pad_right = pad_left + le * hop - length;
  const std::size_t padded_length = length + pad_left + pad_right;

  Stft stft({.n_fft = n_fft, .hop = hop, .window = hann_window(n_fft), .normalized = true},
            padded_length);
  const std::size_t frames = stft.frames(padded_length);
  ASSERT_EQ(frames, le + 4);
  std::vector<Complex> spec(stft.bins() * frames);

  double err2 = 0, ref2 = 0, max_abs = 0;
  for (std::size_t c = 0; c < 2; ++c) {
    // demucs' pad1d(x, (pad, pad + le*hop - L), mode="reflect").
    const float* x = segment.data() + c * length;
    std::vector<float> padded(padded_length);
    for (std::size_t i = 0; i < padded_length; ++i) {
      auto j = static_cast<std::ptrdiff_t>(i) - static_cast<std::ptrdiff_t>(pad_left);
      const auto n = static_cast<std::ptrdiff_t>(length);
      if (j < 0) j = -j;
      if (j >= n) j = 2 * (n - 1) - j;
      padded[i] = x[j];
    }
    stft.forward(padded, spec);
    for (std::size_t f = 0; f < n_fft / 2; ++f) {
      for (std::size_t t = 0; t < le; ++t) {
        const Complex z = spec[f * frames + t + 2];
        for (std::size_t part = 0; part < 2; ++part) {
          const float got = part == 0 ? z.real() : z.imag();
          const float want = expected[((2 * c + part) * (n_fft / 2) + f) * le + t];
          const double d = static_cast<double>(got) - want;
          err2 += d * d;
          ref2 += static_cast<double>(want) * want;
          max_abs = std::max(max_abs, std::abs(d));
        }
      }
    }
  }
  const double rel_l2 = std::sqrt(err2 / ref2);
  std::printf("[ demucs spec ] rel L2 %.3g, max |delta| %.3g vs torch.stft\n", rel_l2, max_abs);
  EXPECT_LE(rel_l2, 1e-4);
}

}  // namespace
}  // namespace earshot::dsp
