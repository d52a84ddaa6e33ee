// The fused frequency encoder level (freq_encoder_rows.hpp) against the same level run step by
// step through the unfused ops (strided conv + GELU, dconv_layers, 1x1 conv + GLU): rows at
// both frequency edges (the conv's zero padding), partial position tiles, one and two DConv
// layers, and bit-identical results for 1, 2 and 3 workers. Also which levels it refuses.
#include "models/htdemucs/freq_encoder_rows.hpp"
#include "models/htdemucs/dconv.hpp"
#include "rt/memory_budget.hpp"
#include "rt/thread_team.hpp"
#include "tests/htdemucs/kernel_test_util.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <random>
#include <vector>

namespace earshot::htdemucs {
namespace {

using test::random_tensor;
using test::TestWorkers;

struct Case {
  int cin, c, h_in;
  std::int64_t w;
  int layers;
};

EncoderW random_encoder(rt::MemoryBudget& budget, const Case& k, std::mt19937& rng) {
  EncoderW e;
  const int hidden = std::max(1, k.c / 8);
  e.conv = {random_tensor(budget, {k.c, k.cin, 8, 1}, rng, 0.0f, 1.0f / std::sqrt(8.0f * k.cin)),
            random_tensor(budget, {k.c}, rng, 0.1f, 0.2f)};
  e.rewrite = {random_tensor(budget, {2 * k.c, k.c, 1, 1}, rng, 0.0f, 1.0f / std::sqrt(1.0f * k.c)),
               random_tensor(budget, {2 * k.c}, rng, 0.0f, 0.2f)};
  for (int i = 0; i < k.layers; ++i) {
    DConvLayerW l;
    l.dilation = 1 << i;
    l.conv1 = {random_tensor(budget, {hidden, k.c, 3}, rng, 0.0f, 1.0f / std::sqrt(3.0f * k.c)),
               random_tensor(budget, {hidden}, rng, 0.3f, 0.2f)};
    l.norm1 = {random_tensor(budget, {hidden}, rng, 1.0f, 0.2f),
               random_tensor(budget, {hidden}, rng, 0.0f, 0.1f)};
    l.conv2 = {random_tensor(budget, {2 * k.c, hidden}, rng, 0.0f, 1.0f / std::sqrt(1.0f * hidden)),
               random_tensor(budget, {2 * k.c}, rng, 0.2f, 0.3f)};
    l.norm2 = {random_tensor(budget, {2 * k.c}, rng, 1.0f, 0.2f),
               random_tensor(budget, {2 * k.c}, rng, 0.0f, 0.1f)};
    l.scale = random_tensor(budget, {k.c}, rng, 0.3f, 0.1f);
    e.dconv.push_back(std::move(l));
  }
  return e;
}

// The level as HTDemucs::encode runs it without the fusion.
void unfused_level(const EncoderW& e, const FreqRowsGeom& g, const Act& in, const Act& out,
                   Workers& workers) {
  const int hidden = e.dconv.empty() ? 1 : static_cast<int>(e.dconv[0].conv1.b.numel());
  std::vector<float> y(static_cast<std::size_t>(out.size()));
  std::vector<float> hid(static_cast<std::size_t>(hidden * out.plane()));
  std::vector<double> stats(static_cast<std::size_t>(
      dconv_stats_doubles(out.c, hidden, out.h, out.w, static_cast<int>(e.dconv.size()))));
  const Act ya{y.data(), out.c, out.h, out.w};
  ConvGeom cg;
  cg.kh = g.kh;
  cg.sh = g.sh;
  cg.ph = g.ph;
  conv2d(e.conv.w.data(), e.conv.b.data(), cg, in, ya, workers, /*gelu=*/true);
  dconv_layers(e.dconv, ya, hid.data(), stats.data(), workers);
  conv2d_glu(e.rewrite.w.data(), e.rewrite.b.data(), ConvGeom{}, ya, out, workers);
}

TEST(FreqEncoderRows, MatchesTheUnfusedLevel) {
  const Case cases[] = {{4, 48, 64, 336, 2},
                        {4, 16, 40, 42, 2},
                        {2, 24, 20, 77, 1},
                        {4, 8, 12, 500, 2},
                        {8, 12, 16, 17, 0}};
  const FreqRowsGeom g;  // kernel 8, stride 4, padding 2: HTDemucs' encoder conv
  std::mt19937 rng(5);
  for (const Case& k : cases) {
    rt::MemoryBudget budget(64u << 20);
    const EncoderW e = random_encoder(budget, k, rng);
    const int h_out = k.h_in / g.sh;
    std::vector<float> input(static_cast<std::size_t>(k.cin * k.h_in * k.w));
    std::normal_distribution<float> x(0.0f, 1.0f);
    for (float& v : input) v = x(rng);
    const Act in{input.data(), k.cin, k.h_in, k.w};
    std::vector<float> expected(static_cast<std::size_t>(k.c * h_out * k.w));
    const Act expected_act{expected.data(), k.c, h_out, k.w};
    ASSERT_TRUE(freq_rows_supported(e, g, in, expected_act)) << "c=" << k.c;
    {
      TestWorkers tw(1, 1 << 18);
      unfused_level(e, g, in, expected_act, tw.workers);
    }
    const int hidden = std::max(1, k.c / 8);
    std::vector<float> first, got(expected.size());
    for (int threads : {1, 2, 3}) {
      TestWorkers tw(threads, freq_rows_worker_floats(k.c, hidden, k.w));
      std::vector<double> shared(static_cast<std::size_t>(
          freq_rows_shared_doubles(hidden, static_cast<int>(e.dconv.size()), threads)));
      std::fill(got.begin(), got.end(), NAN);
      encode_freq_rows(e, g, in, {got.data(), k.c, h_out, k.w}, shared.data(), tw.workers);
      double err = 0.0, ref = 0.0;
      for (std::size_t i = 0; i < got.size(); ++i) {
        const double d = static_cast<double>(got[i]) - expected[i];
        err += d * d;
        ref += static_cast<double>(expected[i]) * expected[i];
      }
      // Only the conv's summation order differs (direct taps vs the GEMM's blocking).
      EXPECT_LE(std::sqrt(err / ref), 1e-6)
          << "cin=" << k.cin << " c=" << k.c << " w=" << k.w << " threads=" << threads;
      if (threads == 1)
        first = got;
      else
        EXPECT_EQ(got, first) << "threads=" << threads << " c=" << k.c << " w=" << k.w;
    }
  }
}

TEST(FreqEncoderRows, RefusesLevelsItCannotFuse) {
  rt::MemoryBudget budget(64u << 20);
  std::mt19937 rng(6);
  const FreqRowsGeom g;
  const EncoderW e = random_encoder(budget, {4, 16, 40, 42, 2}, rng);
  std::vector<float> buf(1);
  const Act in{buf.data(), 4, 40, 42}, out{buf.data(), 16, 10, 42};
  EXPECT_TRUE(freq_rows_supported(e, g, in, out));
  // Rows longer than the row-wise DConv handles.
  EXPECT_FALSE(freq_rows_supported(e, g, {buf.data(), 4, 40, 4000}, {buf.data(), 16, 10, 4000}));
  // A reduction (input channels x taps) beyond the direct conv's.
  const EncoderW wide = random_encoder(budget, {600, 16, 40, 42, 1}, rng);
  EXPECT_FALSE(freq_rows_supported(wide, g, {buf.data(), 600, 40, 42}, out));
  // A level with GroupNorms (norm_starts reached).
  EncoderW normed = random_encoder(budget, {4, 16, 40, 42, 1}, rng);
  normed.norm1 = {random_tensor(budget, {16}, rng, 1.0f, 0.1f),
                  random_tensor(budget, {16}, rng, 0.0f, 0.1f)};
  EXPECT_FALSE(freq_rows_supported(normed, g, in, out));
}

}  // namespace
}  // namespace earshot::htdemucs
