// Shared helpers for the Whisper tests: fixture paths and error measures.
#pragma once

#include "models/core/safetensors.hpp"
#include "tests/test_support.hpp"

#include <algorithm>
#include <cmath>
#include <span>
#include <string>

namespace earshot::test::whisper {

inline std::filesystem::path model_dir(const std::string& name) {
  return fixture("whisper/" + name);
}

inline models::SafetensorsFile refs(const std::string& name) {
  return models::SafetensorsFile::open(model_dir(name) / "ref.safetensors");
}

// Largest absolute element-wise difference (NaN counts as infinite).
inline double max_abs_diff(std::span<const float> a, std::span<const float> b) {
  if (a.size() != b.size()) return INFINITY;
  double worst = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const double d = std::fabs(static_cast<double>(a[i]) - static_cast<double>(b[i]));
    if (!(d <= worst)) worst = std::isnan(d) ? INFINITY : d;
  }
  return worst;
}

}  // namespace earshot::test::whisper
