// Shared helpers of the EnCodec tests: fixture paths, the models, reference tensors.
#pragma once

#include "models/core/safetensors.hpp"
#include "models/encodec/encodec_model.hpp"
#include "rt/memory_budget.hpp"
#include "tests/test_support.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

namespace earshot::encodec::test {

inline std::filesystem::path model_dir(const std::string& name) {
  return earshot::test::fixture("encodec/" + name);
}

inline models::SafetensorsFile reference(const std::string& name) {
  return models::SafetensorsFile::open(model_dir(name) / "ref.safetensors");
}

// [channels, length] (PyTorch) -> [length, channels] (ours).
inline std::vector<float> to_time_major(const std::vector<float>& x, std::int64_t channels,
                                        std::int64_t length, std::int64_t offset = 0) {
  std::vector<float> out(static_cast<std::size_t>(channels * length));
  for (std::int64_t c = 0; c < channels; ++c) {
    for (std::int64_t t = 0; t < length; ++t) out[t * channels + c] = x[offset + c * length + t];
  }
  return out;
}

inline float max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  float m = 0;
  for (std::size_t i = 0; i < std::min(a.size(), b.size()); ++i)
    m = std::max(m, std::abs(a[i] - b[i]));
  return m;
}

}  // namespace earshot::encodec::test

namespace earshot::encodec::test {

// Result of comparing our codes with the reference stage by stage.
struct CodeComparison {
  int exact = 0;     // equal codes
  int excused = 0;   // differing where the reference margin marks a near-tie (< 1e-4), or after
                     // an earlier differing stage of the same frame
  int failures = 0;  // differing with a clear margin: a real error
  std::string first_failure;
};

// ours / ref: [n_q, frames] (row-major); margin: [>= n_q, frames] with row stride margin_frames.
inline CodeComparison compare_codes(const std::int32_t* ours, const std::int32_t* ref,
                                    const float* margin, int n_q, std::int64_t frames,
                                    std::int64_t ref_frames, std::int64_t margin_frames) {
  CodeComparison r;
  for (std::int64_t f = 0; f < frames; ++f) {
    bool diverged = false;
    for (int q = 0; q < n_q; ++q) {
      const std::int32_t a = ours[q * frames + f];
      const std::int32_t b = ref[q * ref_frames + f];
      if (a == b) {
        ++r.exact;
      } else if (diverged || margin[q * margin_frames + f] < 1e-4f) {
        diverged = true;
        ++r.excused;
      } else {
        ++r.failures;
        if (r.first_failure.empty()) {
          r.first_failure = "stage " + std::to_string(q) + " frame " + std::to_string(f) + ": " +
                            std::to_string(a) + " vs " + std::to_string(b) + " (margin " +
                            std::to_string(margin[q * margin_frames + f]) + ")";
        }
      }
    }
  }
  return r;
}

}  // namespace earshot::encodec::test
