// Shared helpers for the HTDemucs tests: fixture paths and error metrics.
#pragma once

#include "models/core/safetensors.hpp"
#include "tests/test_support.hpp"

#include <algorithm>
#include <cmath>
#include <span>
#include <string>

namespace earshot::htdemucs::test {

inline std::string model_dir(const std::string& name) {
  return earshot::test::fixture("htdemucs/" + name).string();
}

inline models::SafetensorsFile reference(const std::string& name) {
  return models::SafetensorsFile::open(
      earshot::test::fixture("htdemucs/" + name + "/ref.safetensors"));
}

struct Error {
  double max_abs = 0.0;
  double rel_l2 = 0.0;
};

// max |a - b| and ||a - b|| / ||ref||, over whole tensors (the README's metrics).
inline Error compare(std::span<const float> got, std::span<const float> ref) {
  Error e;
  double diff2 = 0.0, ref2 = 0.0;
  const std::size_t n = std::min(got.size(), ref.size());
  for (std::size_t i = 0; i < n; ++i) {
    const double d = static_cast<double>(got[i]) - ref[i];
    if (!(std::fabs(d) <= e.max_abs)) e.max_abs = std::fabs(d);  // NaN propagates as a failure
    diff2 += d * d;
    ref2 += static_cast<double>(ref[i]) * ref[i];
  }
  e.rel_l2 = std::sqrt(diff2) / std::sqrt(ref2);
  if (got.size() != ref.size()) e.rel_l2 = INFINITY;
  return e;
}

}  // namespace earshot::htdemucs::test
