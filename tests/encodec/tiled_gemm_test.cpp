// The register-tiled kernel (the decoder's later stages) against a double-precision reference on
// the full-size model's shapes and on ragged ones (row and column tails, no bias, accumulate,
// strided rows), bitwise the same on two threads; and a phase-form transposed convolution
// against the textbook definition (the fixtures' reduced widths do not reach every tile shape).
#include "models/core/tiled_gemm.hpp"
#include "models/encodec/layers.hpp"
#include "models/encodec/weight_loader.hpp"
#include "rt/thread_team.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

namespace earshot::encodec {

using models::kTiledPanel;
using models::pack_tiled_weights;
using models::tiled_gemm;
namespace {

std::vector<float> random_values(std::size_t n, std::mt19937& rng) {
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& e : v) e = dist(rng);
  return v;
}

TEST(TiledGemm, MatchesADoubleReferenceOnDecoderAndRaggedShapes) {
  struct Shape {
    std::int64_t M, N, K, ldx_extra;
    bool bias, accumulate;
  };
  const Shape shapes[] = {
      {8, 640, 512, 0, true, false},
      {8, 128, 768, 0, true, false},
      {40, 256, 256, 0, true, false},
      {160, 64, 128, 0, true, false},
      {320, 16, 96, 0, true, false},
      {320, 32, 16, 0, true, true},
      {1, 5, 3, 0, false, false},
      {7, 100, 33, 5, true, true},
      {29, 47, 70, 3, false, true},
      {13, 16, 1, 0, true, false},
      {97, 200, 40, 1, true, false},
      {3, 64, 9, 0, false, false},
      // Row blocks (the X slice kept in L2): several full blocks and a partial one.
      {500, 100, 800, 0, true, false},
      {300, 50, 2000, 2, true, true},
  };
  std::mt19937 rng(11);
  rt::ThreadTeam team(2);
  for (const auto& s : shapes) {
    const std::int64_t ldx = s.K + s.ldx_extra;
    const std::int64_t ldw = s.N + 3;
    const std::int64_t ldy = s.N + 2;
    const auto x = random_values(static_cast<std::size_t>(s.M * ldx), rng);
    const auto w = random_values(static_cast<std::size_t>(s.K * ldw), rng);
    const auto b = random_values(static_cast<std::size_t>(s.N), rng);
    const auto y0 = random_values(static_cast<std::size_t>(s.M * ldy), rng);
    std::vector<float> packed(static_cast<std::size_t>(s.K * s.N));
    pack_tiled_weights(s.K, s.N, w.data(), ldw, packed.data());
    auto y = y0;
    tiled_gemm(s.M, s.N, s.K, x.data(), ldx, packed.data(), s.bias ? b.data() : nullptr, y.data(),
               ldy, s.accumulate);
    auto y2 = y0;
    tiled_gemm(s.M, s.N, s.K, x.data(), ldx, packed.data(), s.bias ? b.data() : nullptr, y2.data(),
               ldy, s.accumulate, &team);
    double worst = 0;
    for (std::int64_t m = 0; m < s.M; ++m) {
      for (std::int64_t n = 0; n < ldy; ++n) {
        const std::size_t i = static_cast<std::size_t>(m * ldy + n);
        if (n >= s.N) {
          ASSERT_EQ(y[i], y0[i]) << "wrote past column " << s.N;
          continue;
        }
        double ref = (s.accumulate ? y0[i] : 0.0) + (s.bias ? b[n] : 0.0);
        double magnitude = std::abs(ref);
        for (std::int64_t k = 0; k < s.K; ++k) {
          const double term = static_cast<double>(x[m * ldx + k]) * w[k * ldw + n];
          ref += term;
          magnitude += std::abs(term);
        }
        // The forward error bound of a float sum of K + 2 terms (unit roundoff 2^-24): holds
        // for any order of summation, and fails for a wrong or missing term.
        ASSERT_LE(std::abs(y[i] - ref), (s.K + 2) * std::ldexp(1.0, -24) * magnitude)
            << s.M << "x" << s.N << "x" << s.K << " at " << m << "," << n;
        worst = std::max(worst, std::abs(y[i] - ref) / (1.0 + std::sqrt(double(s.K))));
        ASSERT_EQ(y[i], y2[i]) << "two threads differ at " << m << "," << n;
      }
    }
    // The decoder's shapes (K <= 768) also within 1e-6 per sqrt(K): its error budget.
    if (s.K <= 768) {
      EXPECT_LE(worst, 1e-6) << s.M << "x" << s.N << "x" << s.K;
    }
  }
}

TEST(TiledGemm, PackingFromTheTransposedLayoutEqualsPackingTheTranspose) {
  // A torch Linear weight [out, in] packed directly gives the panels of its transpose [in, out].
  const std::int64_t K = 70, N = 100, ld = 73;
  std::mt19937 rng(13);
  const auto wt = random_values(static_cast<std::size_t>(N * ld), rng);
  std::vector<float> w(static_cast<std::size_t>(K * N));
  for (std::int64_t n = 0; n < N; ++n)
    for (std::int64_t k = 0; k < K; ++k) w[k * N + n] = wt[n * ld + k];
  std::vector<float> a(w.size()), b(w.size());
  pack_tiled_weights(K, N, w.data(), N, a.data());
  models::pack_tiled_weights_transposed(K, N, wt.data(), ld, b.data());
  EXPECT_EQ(a, b);
}

TEST(TiledGemm, PhaseFormTransposedConvIsTheTextbookOne) {
  // ConvTranspose1d: y[t * stride + j][o] += sum_c x[t][c] w[c][o][j], then the causal trim.
  const int in = 24, out = 20, stride = 5, kernel = 10;
  const std::int64_t length = 9;
  std::mt19937 rng(12);
  const auto w = random_values(static_cast<std::size_t>(in * out * kernel), rng);
  const auto bias = random_values(out, rng);
  const auto x = random_values(static_cast<std::size_t>(length * in), rng);
  rt::MemoryBudget budget{16u << 20};
  ConvTranspose1d conv;
  conv.in_channels = in;
  conv.out_channels = out;
  conv.kernel = kernel;
  conv.stride = stride;
  conv.layout = WeightLayout::kTiled;
  const std::int64_t cols = static_cast<std::int64_t>(stride) * out;
  conv.weight = Tensor(budget, "w", {2 * in, cols});
  conv.phase_bias = Tensor(budget, "w", {cols});
  conv.bias = Tensor(budget, "w", {out});
  std::vector<float> plain(static_cast<std::size_t>(2 * in * cols));
  for (int c = 0; c < in; ++c) {
    for (int p = 0; p < stride; ++p) {
      for (int o = 0; o < out; ++o) {
        plain[c * cols + p * out + o] = w[(c * out + o) * kernel + p + stride];
        plain[(in + c) * cols + p * out + o] = w[(c * out + o) * kernel + p];
      }
    }
  }
  pack_tiled_weights(2 * in, cols, plain.data(), cols, conv.weight.data());
  for (int p = 0; p < stride; ++p) {
    for (int o = 0; o < out; ++o) conv.phase_bias.data()[p * out + o] = bias[o];
  }
  std::copy(bias.begin(), bias.end(), conv.bias.data());
  std::vector<float> y;
  conv.forward(x.data(), length, y);
  ASSERT_EQ(static_cast<std::int64_t>(y.size()), length * stride * out);
  std::vector<double> full(static_cast<std::size_t>(((length - 1) * stride + kernel) * out), 0.0);
  for (std::int64_t t = 0; t < length; ++t) {
    for (int j = 0; j < kernel; ++j) {
      for (int o = 0; o < out; ++o) {
        for (int c = 0; c < in; ++c) {
          full[(t * stride + j) * out + o] +=
              static_cast<double>(x[t * in + c]) * w[(c * out + o) * kernel + j];
        }
      }
    }
  }
  for (std::int64_t r = 0; r < length * stride; ++r) {
    for (int o = 0; o < out; ++o) {
      EXPECT_NEAR(y[r * out + o], full[r * out + o] + bias[o], 1e-5) << r << "," << o;
    }
  }
}

}  // namespace
}  // namespace earshot::encodec
