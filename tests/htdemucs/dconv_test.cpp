// The fused DConv layer (dconv.hpp) against the same layer built from the unfused ops
// (im2col conv, GroupNorm + GELU, 1x1 conv, GroupNorm, GLU + LayerScale + residual): frequency
// blocks (many rows, one tile each), one long time row (several tiles and a partial one),
// hidden widths on the register path (6, 12) and the generic one (5, 24), dilations 1 and 2, a
// large common offset (the statistics must not cancel), and bit-identical results for 1, 2
// and 3 workers.
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

struct Case {
  int c, hidden, h;
  std::int64_t w;
  int dilation;
  float offset;  // added to the input: a large mean relative to the spread
};

using test::random_tensor;
using test::TestWorkers;

// The unfused layer, as HTDemucs ran it before the fusion.
void reference_layer(const DConvLayerW& l, const Act& y, Workers& workers) {
  const int hidden = static_cast<int>(l.conv1.b.numel());
  std::vector<float> h(static_cast<std::size_t>(hidden * y.plane()));
  std::vector<float> z(static_cast<std::size_t>(2 * y.c * y.plane()));
  const Act ha{h.data(), hidden, y.h, y.w};
  const Act za{z.data(), 2 * y.c, y.h, y.w};
  ConvGeom g;
  g.kw = 3;
  g.dw = l.dilation;
  g.pw = l.dilation;
  conv2d(l.conv1.w.data(), l.conv1.b.data(), g, y, ha, workers);
  group_norm(ha, 1, l.norm1.g.data(), l.norm1.b.data(), 1e-5f, true, workers, /*gelu=*/true);
  conv2d(l.conv2.w.data(), l.conv2.b.data(), ConvGeom{}, ha, za, workers);
  group_norm(za, 1, l.norm2.g.data(), l.norm2.b.data(), 1e-5f, true, workers);
  glu_scaled_add(za, l.scale.data(), y, workers);
}

TEST(FusedDConv, MatchesUnfusedLayer) {
  const Case cases[] = {{48, 6, 5, 336, 1, 0.0f},   {48, 6, 1, 1300, 2, 0.0f},
                        {96, 12, 3, 77, 2, 0.0f},   {40, 5, 2, 600, 1, 0.0f},
                        {192, 24, 1, 530, 1, 0.0f}, {8, 1, 4, 42, 2, 50.0f},
                        {48, 6, 1, 1030, 1, 30.0f}};
  std::mt19937 rng(17);
  for (const Case& k : cases) {
    rt::MemoryBudget budget(64u << 20);
    DConvLayerW l;
    l.dilation = k.dilation;
    const float s1 = 1.0f / std::sqrt(3.0f * k.c), s2 = 1.0f / std::sqrt(1.0f * k.hidden);
    l.conv1 = {random_tensor(budget, {k.hidden, k.c, 3}, rng, 0.0f, s1),
               random_tensor(budget, {k.hidden}, rng, 0.3f, 0.2f)};
    l.norm1 = {random_tensor(budget, {k.hidden}, rng, 1.0f, 0.2f),
               random_tensor(budget, {k.hidden}, rng, 0.0f, 0.1f)};
    l.conv2 = {random_tensor(budget, {2 * k.c, k.hidden}, rng, 0.0f, s2),
               random_tensor(budget, {2 * k.c}, rng, 0.2f, 0.3f)};
    l.norm2 = {random_tensor(budget, {2 * k.c}, rng, 1.0f, 0.2f),
               random_tensor(budget, {2 * k.c}, rng, 0.0f, 0.1f)};
    l.scale = random_tensor(budget, {k.c}, rng, 0.3f, 0.1f);
    const std::int64_t n = k.c * k.h * k.w;
    std::vector<float> input(static_cast<std::size_t>(n));
    std::normal_distribution<float> x(k.offset, 1.0f);
    for (float& v : input) v = x(rng);

    std::vector<float> expected = input;
    {
      TestWorkers tw(1, 1 << 18);
      reference_layer(l, {expected.data(), k.c, k.h, k.w}, tw.workers);
    }
    // One set of buffers for every worker count: Eigen's vectorised sums depend on the
    // address alignment, which the model's buffers keep fixed too.
    std::vector<float> first, got(input.size());
    std::vector<float> hid(static_cast<std::size_t>(k.hidden * k.h * k.w));
    std::vector<double> stats(
        static_cast<std::size_t>(dconv_stats_doubles(k.c, k.hidden, k.h, k.w)));
    for (int threads : {1, 2, 3}) {
      TestWorkers tw(threads, std::max<std::int64_t>(1 << 16, dconv_worker_floats(k.c, k.hidden)));
      got = input;
      dconv_layer(l, {got.data(), k.c, k.h, k.w}, hid.data(), stats.data(), tw.workers);
      // Compare the residual branch (y_out - y_in), where the layer's error shows.
      double err = 0.0, ref = 0.0;
      for (std::int64_t i = 0; i < n; ++i) {
        const double d_exp = static_cast<double>(expected[i]) - input[i];
        const double d_got = static_cast<double>(got[i]) - input[i];
        err += (d_got - d_exp) * (d_got - d_exp);
        ref += d_exp * d_exp;
      }
      EXPECT_LE(std::sqrt(err / ref), 2e-5)
          << "c=" << k.c << " hidden=" << k.hidden << " h=" << k.h << " w=" << k.w
          << " offset=" << k.offset << " threads=" << threads;
      if (threads == 1)
        first = got;
      else
        EXPECT_EQ(got, first) << "threads=" << threads << " c=" << k.c << " w=" << k.w;
    }
  }
}

// Collects the tiles a sink receives into a [c][w] block.
class CollectingSink final : public DConvTileSink {
 public:
  CollectingSink(int c, std::int64_t w)
      : c_(c), w_(w), data(static_cast<std::size_t>(c * w), NAN) {}
  void consume(const float* tile, std::int64_t tile_plane, int row, std::int64_t p0,
               std::int64_t p1, int) override {
    EXPECT_EQ(row, 0);
    for (int c = 0; c < c_; ++c)
      for (std::int64_t p = p0; p < p1; ++p) data[c * w_ + p] = tile[c * tile_plane + p - p0];
  }

 private:
  int c_;
  std::int64_t w_;

 public:
  std::vector<float> data;
};

TEST(FusedDConv, TileSinkReceivesExactlyTheLastLayersOutput) {
  // Two layers on one long row (several tiles and a partial one): the sink must see, bit for
  // bit, what the in-place run leaves in y, whatever the number of workers.
  const int C = 48, hidden = 6;
  const std::int64_t W = 1300;
  std::mt19937 rng(23);
  rt::MemoryBudget budget(64u << 20);
  std::vector<DConvLayerW> layers(2);
  for (int i = 0; i < 2; ++i) {
    DConvLayerW& l = layers[static_cast<std::size_t>(i)];
    l.dilation = 1 << i;
    l.conv1 = {random_tensor(budget, {hidden, C, 3}, rng, 0.0f, 0.1f),
               random_tensor(budget, {hidden}, rng, 0.3f, 0.2f)};
    l.norm1 = {random_tensor(budget, {hidden}, rng, 1.0f, 0.2f),
               random_tensor(budget, {hidden}, rng, 0.0f, 0.1f)};
    l.conv2 = {random_tensor(budget, {2 * C, hidden}, rng, 0.0f, 0.4f),
               random_tensor(budget, {2 * C}, rng, 0.2f, 0.3f)};
    l.norm2 = {random_tensor(budget, {2 * C}, rng, 1.0f, 0.2f),
               random_tensor(budget, {2 * C}, rng, 0.0f, 0.1f)};
    l.scale = random_tensor(budget, {C}, rng, 0.3f, 0.1f);
  }
  std::vector<float> input(static_cast<std::size_t>(C * W));
  std::normal_distribution<float> x(0.0f, 1.0f);
  for (float& v : input) v = x(rng);
  std::vector<float> hid(static_cast<std::size_t>(hidden * W));
  std::vector<double> stats(static_cast<std::size_t>(dconv_stats_doubles(C, hidden, 1, W, 2)));
  std::vector<float> in_place = input;
  {
    TestWorkers tw(1, dconv_sink_floats(C, hidden));
    dconv_layers(layers, {in_place.data(), C, 1, W}, hid.data(), stats.data(), tw.workers);
  }
  std::vector<float> after_first = input;
  {
    TestWorkers tw(1, dconv_sink_floats(C, hidden));
    dconv_layers({layers.data(), 1}, {after_first.data(), C, 1, W}, hid.data(), stats.data(),
                 tw.workers);
  }
  for (int threads : {1, 3}) {
    TestWorkers tw(threads, dconv_sink_floats(C, hidden));
    std::vector<float> y = input;
    CollectingSink sink(C, W);
    dconv_layers(layers, {y.data(), C, 1, W}, hid.data(), stats.data(), tw.workers, &sink);
    EXPECT_EQ(sink.data, in_place) << "threads=" << threads;
    EXPECT_EQ(y, after_first) << "threads=" << threads;  // y keeps the first layer's output
  }
}

}  // namespace
}  // namespace earshot::htdemucs
