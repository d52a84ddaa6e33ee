// A sine tone as pipeline input (`earshot monitor --input tone`): the same tone on every channel.
#pragma once

#include "rt/backends/ring_pipeline.hpp"

#include <cmath>
#include <numbers>

namespace earshot::rt {

class ToneGenerator final : public InputGenerator {
 public:
  ToneGenerator(double frequency_hz, double sample_rate, float amplitude)
      : step_(2.0 * std::numbers::pi * frequency_hz / sample_rate), amplitude_(amplitude) {}

  void generate(float* const* out, std::uint32_t channels, std::uint32_t frames) noexcept override {
    for (std::uint32_t i = 0; i < frames; ++i) {
      const float x = amplitude_ * static_cast<float>(std::sin(phase_));
      for (std::uint32_t c = 0; c < channels; ++c) out[c][i] = x;
      // Keep the phase small so a long run does not lose precision.
      phase_ += step_;
      if (phase_ > 2.0 * std::numbers::pi) phase_ -= 2.0 * std::numbers::pi;
    }
  }

 private:
  double step_;
  double phase_ = 0.0;
  float amplitude_;
};

}  // namespace earshot::rt
