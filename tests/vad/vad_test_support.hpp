// Shared helpers for the VAD tests: fixture paths and the reference tensors.
#pragma once

#include "models/core/safetensors.hpp"
#include "tests/test_support.hpp"

#include <algorithm>
#include <cmath>
#include <span>
#include <string>
#include <vector>

namespace earshot::test::vad {

inline std::filesystem::path vad_fixture(const std::string& name) {
  return fixture("silero-vad/" + name);
}

// One weights file and the reference outputs made with it.
struct WeightsCase {
  std::string weights;    // file under silero-vad/
  std::string reference;  // ref_*.safetensors
  std::string segments;   // segments*.json
};

inline std::vector<WeightsCase> all_weight_cases() {
  return {{"silero_vad_v6.2_16k.safetensors", "ref_v6.2.safetensors", "segments_v6.2.json"},
          {"silero_vad_16k.safetensors", "ref.safetensors", "segments.json"},
          {"silero_vad.onnx", "ref_v6.2.safetensors", "segments_v6.2.json"}};
}

inline float max_abs_diff(std::span<const float> a, std::span<const float> b) {
  if (a.size() != b.size()) return INFINITY;
  float m = 0.0f;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const float d = std::fabs(a[i] - b[i]);
    if (!(d <= m)) m = d;  // NaN propagates as the maximum
  }
  return m;
}

}  // namespace earshot::test::vad
