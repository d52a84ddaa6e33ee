// Where one decoder step spends its time (benchmarks only; off unless a profile is attached).
//
// The decoder adds the wall time of each stage of a forward()/logits() call to the attached
// profile. Reading the clock costs ~20 ns, so the decoder only does it when a profile is set.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>

namespace earshot::models::whisper {

enum class DecodeStage : int {
  kSelfProjections,   // LayerNorm, q/k/v projections, cache append, out projection
  kSelfAttention,     // attention over the self-attention cache
  kCrossProjections,  // LayerNorm, cross-attention q and out projections
  kCrossAttention,    // attention over the window's cross-attention K/V
  kMlp,               // LayerNorm, fc1, GELU, fc2
  kLogits,            // final LayerNorm and hidden . E^T
  kCount
};
inline constexpr std::size_t kDecodeStages = static_cast<std::size_t>(DecodeStage::kCount);

inline const char* decode_stage_name(DecodeStage s) {
  switch (s) {
    case DecodeStage::kSelfProjections:
      return "self-attn projections";
    case DecodeStage::kSelfAttention:
      return "self-attention";
    case DecodeStage::kCrossProjections:
      return "cross-attn q/o projections";
    case DecodeStage::kCrossAttention:
      return "cross-attention over K/V";
    case DecodeStage::kMlp:
      return "MLP";
    case DecodeStage::kLogits:
      return "final LN + logits";
    default:
      return "?";
  }
}

struct DecodeProfile {
  std::array<double, kDecodeStages> seconds{};
  void clear() { seconds.fill(0.0); }
};

// Stamps stage boundaries: each mark(stage) charges the time since the previous mark to `stage`.
class DecodeStageClock {
 public:
  using Clock = std::chrono::steady_clock;
  explicit DecodeStageClock(DecodeProfile* profile) : profile_(profile) {
    if (profile_) last_ = Clock::now();
  }
  void mark(DecodeStage stage) {
    if (!profile_) return;
    const auto now = Clock::now();
    profile_->seconds[static_cast<std::size_t>(stage)] +=
        std::chrono::duration<double>(now - last_).count();
    last_ = now;
  }

 private:
  DecodeProfile* profile_;
  Clock::time_point last_{};
};

}  // namespace earshot::models::whisper
