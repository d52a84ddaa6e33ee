// The fused small-K 1x1 conv + GLU (pointwise_glu.hpp) against a double-precision reference:
// the outermost encoders' shape (K = 48, C = 48), the deepest (K = 384), widths that leave a
// remainder output group and a partial tile (K = 5, C = 7), a bias-free call, and bit-identical
// results however the positions are split among workers.
#include "models/htdemucs/pointwise_glu.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

namespace earshot::htdemucs {
namespace {

struct Case {
  int k, c;
  std::int64_t plane;
  bool bias;
};

std::vector<float> random_vector(std::size_t n, std::mt19937& rng, float spread) {
  std::normal_distribution<float> d(0.0f, spread);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

TEST(PointwiseGlu, MatchesReferenceAndIsSplitIndependent) {
#if !defined(__AVX512F__)
  EXPECT_FALSE(pointwise_glu_supported(48));
#else
  ASSERT_TRUE(pointwise_glu_supported(48));
  ASSERT_FALSE(pointwise_glu_supported(768));  // larger K goes through the GEMM
  std::mt19937 rng(7);
  for (const Case cs : {Case{48, 48, 1000, true}, Case{5, 7, 77, true}, Case{48, 48, 64, false},
                        Case{16, 4, 3, true}, Case{384, 5, 200, true}}) {
    SCOPED_TRACE(testing::Message() << "K=" << cs.k << " C=" << cs.c << " plane=" << cs.plane);
    const auto in = random_vector(static_cast<std::size_t>(cs.k * cs.plane), rng, 1.0f);
    const auto w = random_vector(static_cast<std::size_t>(2 * cs.c * cs.k), rng, 0.3f);
    const auto b = random_vector(static_cast<std::size_t>(2 * cs.c), rng, 0.5f);
    const float* bias = cs.bias ? b.data() : nullptr;
    const std::size_t n_out = static_cast<std::size_t>(cs.c * cs.plane);
    std::vector<float> whole(n_out, NAN), split(n_out, NAN);
    pointwise_glu(in.data(), cs.plane, cs.k, cs.c, w.data(), bias, 0, cs.plane, whole.data());
    // Uneven pieces, as worker chunks may be (including ones that are not tile multiples).
    for (std::int64_t p = 0; p < cs.plane;) {
      const std::int64_t e = std::min(cs.plane, p + 1 + (p * 7 + 13) % 100);
      pointwise_glu(in.data(), cs.plane, cs.k, cs.c, w.data(), bias, p, e, split.data());
      p = e;
    }
    double worst = 0.0;
    for (int c = 0; c < cs.c; ++c)
      for (std::int64_t p = 0; p < cs.plane; ++p) {
        double a = cs.bias ? b[c] : 0.0, g = cs.bias ? b[c + cs.c] : 0.0;
        double magnitude = 1.0;  // sum of |terms|: float rounding of the sums scales with it
        for (int k = 0; k < cs.k; ++k) {
          const double ta = static_cast<double>(w[c * cs.k + k]) * in[k * cs.plane + p];
          const double tg = static_cast<double>(w[(c + cs.c) * cs.k + k]) * in[k * cs.plane + p];
          a += ta;
          g += tg;
          magnitude += std::abs(ta) + std::abs(tg);
        }
        const double ref = a / (1.0 + std::exp(-g));
        const std::size_t i = static_cast<std::size_t>(c * cs.plane + p);
        worst = std::max(worst, std::abs(whole[i] - ref) / (magnitude * (1.0 + std::abs(ref))));
        ASSERT_EQ(whole[i], split[i]) << "c=" << c << " p=" << p;
      }
    EXPECT_LT(worst, 1e-6);
  }
#endif
}

}  // namespace
}  // namespace earshot::htdemucs
