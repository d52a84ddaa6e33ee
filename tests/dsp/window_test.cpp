// Hann windows against the closed form evaluated in double precision.
#include "dsp/window.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <numbers>

namespace earshot::dsp {
namespace {

TEST(HannWindow, PeriodicMatchesClosedFormAndTorchShape) {
  for (std::size_t n : {4, 400, 401, 4096}) {
    const auto w = hann_window(n, /*periodic=*/true);
    ASSERT_EQ(w.size(), n);
    for (std::size_t k = 0; k < n; ++k) {
      const double ref = 0.5 - 0.5 * std::cos(2.0 * std::numbers::pi * k / static_cast<double>(n));
      ASSERT_NEAR(w[k], ref, 1e-6) << "n=" << n << " k=" << k;
    }
    EXPECT_EQ(w[0], 0.0f);
    // Periodic: w[k] == w[n-k], and no second zero at the end.
    for (std::size_t k = 1; k < n; ++k) ASSERT_NEAR(w[k], w[n - k], 1e-6);
    EXPECT_GT(w[n - 1], 0.0f);
  }
  EXPECT_FLOAT_EQ(hann_window(400)[200], 1.0f);
}

TEST(HannWindow, SymmetricEndsAtZeroBothSides) {
  for (std::size_t n : {5, 64, 401}) {
    const auto w = hann_window(n, /*periodic=*/false);
    ASSERT_EQ(w.size(), n);
    EXPECT_NEAR(w.front(), 0.0f, 1e-7);
    EXPECT_NEAR(w.back(), 0.0f, 1e-7);
    for (std::size_t k = 0; k < n; ++k) {
      ASSERT_NEAR(w[k], w[n - 1 - k], 1e-6);
      const double ref = 0.5 - 0.5 * std::cos(2.0 * std::numbers::pi * k / (n - 1.0));
      ASSERT_NEAR(w[k], ref, 1e-6);
    }
  }
}

TEST(HannWindow, DegenerateLengths) {
  EXPECT_TRUE(hann_window(0).empty());
  ASSERT_EQ(hann_window(1).size(), 1u);
  EXPECT_EQ(hann_window(1)[0], 1.0f);
  EXPECT_EQ(hann_window(1, false)[0], 1.0f);
}

TEST(CenterWindow, PadsSymmetricallyLikeTorch) {
  const auto w = center_window({1.0f, 2.0f, 3.0f}, 8);  // left pad (8-3)/2 = 2
  const std::vector<float> expected{0, 0, 1, 2, 3, 0, 0, 0};
  EXPECT_EQ(w, expected);
  EXPECT_THROW(center_window(std::vector<float>(9, 1.0f), 8), std::invalid_argument);
}

}  // namespace
}  // namespace earshot::dsp
