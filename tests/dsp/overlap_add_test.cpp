// demucs' transition weights and the weighted overlap-add, checked against the arithmetic the
// htdemucs fixture README describes, written out independently here.
#include "dsp/overlap_add.hpp"

#include <gtest/gtest.h>

#include <random>
#include <vector>

namespace earshot::dsp {
namespace {

TEST(DemucsTransitionWeight, EvenAndOddLengths) {
  // L = 8: [1 2 3 4 4 3 2 1] / 4.
  EXPECT_EQ(demucs_transition_weight(8),
            (std::vector<float>{0.25f, 0.5f, 0.75f, 1.0f, 1.0f, 0.75f, 0.5f, 0.25f}));
  // L = 7: [1 2 3] ++ [4 3 2 1], peak 4 at index L//2 = 3.
  EXPECT_EQ(demucs_transition_weight(7),
            (std::vector<float>{0.25f, 0.5f, 0.75f, 1.0f, 0.75f, 0.5f, 0.25f}));
  EXPECT_EQ(demucs_transition_weight(1), std::vector<float>{1.0f});
  // A training length of HTDemucs (7.8 s at 44.1 kHz): float(i) / float(peak) exactly.
  const std::size_t L = 343980;
  const auto w = demucs_transition_weight(L);
  const float peak = static_cast<float>(L - L / 2);
  EXPECT_EQ(w[0], 1.0f / peak);
  EXPECT_EQ(w[L / 2], 1.0f);
  EXPECT_EQ(w[L / 2 - 1], static_cast<float>(L / 2) / peak);
  EXPECT_EQ(w[L - 1], 1.0f / peak);
}

TEST(WeightedOverlapAdd, ReproducesDemucsChunkingWithShortLastChunk) {
  // Chunks as apply_model makes them: L = 40, stride = int(0.75 * L) = 30, T = 100, so offsets
  // 0, 30, 60, 90 and a last chunk of 10 samples. Rows = 2 sources x 2 channels.
  const std::size_t L = 40, stride = 30, T = 100, rows = 4;
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  const auto w = demucs_transition_weight(L);
  WeightedOverlapAdd ola(rows, 128);
  ola.reset(T);
  std::vector<float> ref_sum(rows * T, 0.0f), ref_w(T, 0.0f);
  for (std::size_t off = 0; off < T; off += stride) {
    const std::size_t len = std::min(L, T - off);
    std::vector<float> chunk(rows * len);
    for (auto& v : chunk) v = dist(rng);
    ola.add(off, len, chunk, w);
    for (std::size_t r = 0; r < rows; ++r)
      for (std::size_t i = 0; i < len; ++i) ref_sum[r * T + off + i] += w[i] * chunk[r * len + i];
    for (std::size_t i = 0; i < len; ++i) ref_w[off + i] += w[i];
  }
  std::vector<float> out(rows * T);
  ola.finish(out);
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t t = 0; t < T; ++t) ASSERT_EQ(out[r * T + t], ref_sum[r * T + t] / ref_w[t]);
}

TEST(WeightedOverlapAdd, CrossfadesAndReconstructsConsistentChunks) {
  // When every chunk carries the same underlying signal, the weighted average is that signal.
  const std::size_t L = 16, stride = 12, T = 50;
  std::vector<float> signal(T);
  for (std::size_t t = 0; t < T; ++t) signal[t] = static_cast<float>(t) * 0.1f - 2.0f;
  const auto w = demucs_transition_weight(L);
  WeightedOverlapAdd ola(1, T);
  ola.reset(T);
  for (std::size_t off = 0; off < T; off += stride) {
    const std::size_t len = std::min(L, T - off);
    ola.add(off, len, std::span<const float>(signal.data() + off, len), w);
  }
  std::vector<float> out(T);
  ola.finish(out);
  for (std::size_t t = 0; t < T; ++t) EXPECT_NEAR(out[t], signal[t], 1e-5);

  // Reuse after reset: the old sums are gone.
  ola.reset(10);
  std::vector<float> ones(10, 1.0f);
  ola.add(0, 10, ones, w);
  std::vector<float> out10(10);
  ola.finish(out10);
  for (float v : out10) EXPECT_FLOAT_EQ(v, 1.0f);
}

TEST(WeightedOverlapAdd, RejectsMisuse) {
  WeightedOverlapAdd ola(2, 20);
  EXPECT_THROW(ola.reset(21), std::invalid_argument);
  ola.reset(20);
  const auto w = demucs_transition_weight(8);
  std::vector<float> chunk(16, 1.0f);
  EXPECT_THROW(ola.add(15, 8, chunk, w), std::invalid_argument);  // past the end
  EXPECT_THROW(ola.add(0, 8, std::span<const float>(chunk).first(15), w), std::invalid_argument);
  EXPECT_THROW(ola.add(0, 8, chunk, std::span<const float>(w).first(4)), std::invalid_argument);
  ola.add(0, 8, chunk, w);
  std::vector<float> out(40);
  EXPECT_THROW(ola.finish(out), std::invalid_argument);  // samples 8..19 uncovered
  EXPECT_THROW(ola.finish(std::span<float>(out).first(3)), std::invalid_argument);
}

}  // namespace
}  // namespace earshot::dsp
