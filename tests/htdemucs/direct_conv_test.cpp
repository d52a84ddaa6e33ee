// The direct time-branch conv (direct_conv.hpp: phase split + row-pointer kernel) against a
// double-precision reference: HTDemucs' encoder geometry (kernel 8, stride 4, padding 2) and
// others (stride 2 and 3, kernel 4 and 5, no padding), inputs shorter than stride x outputs
// (the time branch's right padding reads zeros), partial tiles and blocks, with and without
// GELU, and bit-identical results for 1, 2 and 3 workers. The same-size conv + GLU (the
// decoders' rewrite) likewise: 3 x 3 over rows and 1 x 3 along time, edges read as zeros.
#include "models/htdemucs/direct_conv.hpp"
#include "rt/thread_team.hpp"
#include "tests/htdemucs/kernel_test_util.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <random>
#include <vector>

namespace earshot::htdemucs {
namespace {

using test::TestWorkers;

struct Case {
  int cin, cout, kw, stride, pad;
  std::int64_t w_in, w_out;
  bool gelu;
};

double gelu(double x) {
  return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0)));
}

TEST(TimeConv, MatchesADoubleReference) {
  const Case cases[] = {
      {2, 48, 8, 4, 2, 4000, 1000, true},  // tenc0's geometry
      {48, 96, 8, 4, 2, 1300, 325, true},  // tenc1's
      {3, 10, 8, 4, 2, 1297, 325, false},  // input shorter than 4 x outputs: zeros at the end
      {5, 7, 4, 2, 0, 999, 498, false},   {4, 13, 5, 3, 1, 700, 233, true},
      {1, 6, 8, 4, 2, 70, 17, true},
  };
  std::mt19937 rng(11);
  for (const Case& k : cases) {
    SCOPED_TRACE("cin=" + std::to_string(k.cin) + " cout=" + std::to_string(k.cout) +
                 " kw=" + std::to_string(k.kw) + " stride=" + std::to_string(k.stride));
    std::normal_distribution<float> n(0.0f, 1.0f);
    std::vector<float> x(static_cast<std::size_t>(k.cin * k.w_in)),
        w(static_cast<std::size_t>(k.cout * k.cin * k.kw)), b(static_cast<std::size_t>(k.cout));
    for (float& v : x) v = n(rng);
    for (float& v : w) v = n(rng) / std::sqrt(static_cast<float>(k.cin * k.kw));
    for (float& v : b) v = 0.3f * n(rng);
    ConvGeom g;
    g.kw = k.kw;
    g.sw = k.stride;
    g.pw = k.pad;
    const Act in{x.data(), k.cin, 1, k.w_in};
    std::vector<double> expected(static_cast<std::size_t>(k.cout * k.w_out));
    for (int c = 0; c < k.cout; ++c)
      for (std::int64_t t = 0; t < k.w_out; ++t) {
        double acc = b[c];
        for (int ci = 0; ci < k.cin; ++ci)
          for (int j = 0; j < k.kw; ++j) {
            const std::int64_t q = k.stride * t + j - k.pad;
            if (q >= 0 && q < k.w_in)
              acc += static_cast<double>(w[(c * k.cin + ci) * k.kw + j]) * x[ci * k.w_in + q];
          }
        expected[c * k.w_out + t] = k.gelu ? gelu(acc) : acc;
      }
    std::vector<float> first;
    for (int threads : {1, 2, 3}) {
      TestWorkers tw(threads, 1 << 16);
      std::vector<float> got(expected.size(), NAN);
      const Act out{got.data(), k.cout, 1, k.w_out};
      ASSERT_TRUE(time_conv_supported(g, in, out, 1 << 16));
      time_conv(w.data(), b.data(), g, in, out, tw.workers, k.gelu);
      test::expect_close_and_split_independent(got, expected, 2e-6, threads, first);
    }
  }
}

TEST(SameConvGlu, MatchesADoubleReference) {
  struct GluCase {
    int cin, c, h, kh, kw;
    std::int64_t w;
  };
  const GluCase cases[] = {
      {8, 9, 5, 3, 3, 70},      // frequency rows, a partial tile, C not a multiple of 3
      {48, 48, 4, 3, 3, 336},   // dec3's channels on a few rows
      {16, 32, 1, 1, 3, 1000},  // the time branch's rewrite
      {5, 4, 3, 3, 5, 17},      // a wider kernel, rows shorter than a tile
  };
  std::mt19937 rng(12);
  for (const GluCase& k : cases) {
    SCOPED_TRACE("cin=" + std::to_string(k.cin) + " c=" + std::to_string(k.c) +
                 " kernel=" + std::to_string(k.kh) + "x" + std::to_string(k.kw));
    std::normal_distribution<float> n(0.0f, 1.0f);
    const std::int64_t plane = k.h * k.w;
    std::vector<float> x(static_cast<std::size_t>(k.cin * plane)),
        w(static_cast<std::size_t>(2 * k.c * k.cin * k.kh * k.kw)),
        b(static_cast<std::size_t>(2 * k.c));
    for (float& v : x) v = n(rng);
    for (float& v : w) v = n(rng) / std::sqrt(static_cast<float>(k.cin * k.kh * k.kw));
    for (float& v : b) v = 0.3f * n(rng);
    ConvGeom g;
    g.kh = k.kh;
    g.kw = k.kw;
    g.ph = k.kh / 2;
    g.pw = k.kw / 2;
    const Act in{x.data(), k.cin, k.h, k.w};
    auto conv = [&](int o, int f, std::int64_t t) {
      double acc = b[o];
      for (int ci = 0; ci < k.cin; ++ci)
        for (int r = 0; r < k.kh; ++r)
          for (int c = 0; c < k.kw; ++c) {
            const int src = f + r - g.ph;
            const std::int64_t q = t + c - g.pw;
            if (src >= 0 && src < k.h && q >= 0 && q < k.w)
              acc += static_cast<double>(w[((o * k.cin + ci) * k.kh + r) * k.kw + c]) *
                     x[ci * plane + src * k.w + q];
          }
      return acc;
    };
    std::vector<double> expected(static_cast<std::size_t>(k.c * plane));
    for (int o = 0; o < k.c; ++o)
      for (int f = 0; f < k.h; ++f)
        for (std::int64_t t = 0; t < k.w; ++t)
          expected[o * plane + f * k.w + t] =
              conv(o, f, t) / (1.0 + std::exp(-conv(o + k.c, f, t)));
    std::vector<float> first;
    for (int threads : {1, 2, 3}) {
      TestWorkers tw(threads, 1 << 16);
      std::vector<float> got(expected.size(), NAN);
      const Act out{got.data(), k.c, k.h, k.w};
      ASSERT_TRUE(same_conv_glu_supported(g, in, out));
      same_conv_glu(w.data(), b.data(), g, in, out, tw.workers);
      test::expect_close_and_split_independent(got, expected, 2e-6, threads, first);
    }
  }
  // What it leaves to the GEMM path: strides, even kernels, wide reductions.
  std::vector<float> buf(1);
  ConvGeom strided;
  strided.kw = 3;
  strided.pw = 1;
  strided.sw = 2;
  EXPECT_FALSE(same_conv_glu_supported(strided, {buf.data(), 4, 1, 100}, {buf.data(), 4, 1, 50}));
  ConvGeom even;
  even.kw = 4;
  even.pw = 2;
  EXPECT_FALSE(same_conv_glu_supported(even, {buf.data(), 4, 1, 100}, {buf.data(), 4, 1, 100}));
  ConvGeom square;
  square.kh = square.kw = 3;
  square.ph = square.pw = 1;
  EXPECT_FALSE(
      same_conv_glu_supported(square, {buf.data(), 384, 8, 336}, {buf.data(), 384, 8, 336}));
}

TEST(TimeConv, RefusesWhatItDoesNotHandle) {
  std::vector<float> buf(1);
  ConvGeom g;
  g.kw = 8;
  g.sw = 4;
  g.pw = 2;
  const Act in{buf.data(), 4, 1, 400}, out{buf.data(), 8, 1, 100};
  EXPECT_TRUE(time_conv_supported(g, in, out, 1 << 16));
  EXPECT_FALSE(time_conv_supported(g, {buf.data(), 4, 2, 400}, out, 1 << 16));    // 2-D input
  EXPECT_FALSE(time_conv_supported(g, {buf.data(), 600, 1, 400}, out, 1 << 24));  // 4800 rows
  EXPECT_FALSE(time_conv_supported(g, in, out, 100));  // scratch too small for one block
  ConvGeom unstrided;
  unstrided.kw = 3;
  unstrided.pw = 1;
  EXPECT_FALSE(time_conv_supported(unstrided, in, in, 1 << 16));  // stride 1: the GEMM path
}

}  // namespace
}  // namespace earshot::htdemucs
