// The decoder's vectorized ELU stays within a few ulp of expm1 over the whole negative range, and
// the exact mode is glibc's expm1f bit for bit.
#include "models/encodec/layers.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <vector>

namespace earshot::encodec {
namespace {

TEST(Elu, FastModeIsWithinAFewUlpOfExpm1) {
  std::vector<float> x;
  for (float v = -100.0f; v < 3.0f; v += 0.000731f) x.push_back(v);
  for (float v = -1e-6f; v < 0.0f; v += 3e-9f) x.push_back(v);
  x.push_back(-0.0f);
  x.push_back(1e30f);
  x.push_back(-1e30f);
  auto fast = x;
  auto exact = x;
  elu_inplace(fast.data(), static_cast<std::int64_t>(fast.size()), nullptr, EluMode::kFast);
  elu_inplace(exact.data(), static_cast<std::int64_t>(exact.size()));
  double worst = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double ref = x[i] > 0 ? x[i] : std::expm1(static_cast<double>(x[i]));
    ASSERT_EQ(exact[i], x[i] > 0 ? x[i] : std::expm1(x[i])) << x[i];
    const double rel = std::abs(fast[i] - ref) / std::max(std::abs(ref), 1e-30);
    worst = std::max(worst, rel);
    ASSERT_LE(rel, 5e-7) << "x = " << x[i] << ": " << fast[i] << " vs " << ref;
  }
  std::printf("fast ELU: worst relative error %.3g over %zu points\n", worst, x.size());
}

}  // namespace
}  // namespace earshot::encodec
