#include "nodes/caption/vad_gate.hpp"

#include <algorithm>

namespace earshot::nodes::caption {

VadGate::VadGate(const models::vad::SileroWeights& weights, rt::MemoryBudget& budget,
                 const models::vad::SpeechParams& params)
    : model_(weights, budget), hysteresis_(params) {
  params.validate();
}

VadGate::Result VadGate::push(std::span<const float> samples) {
  const std::size_t take = std::min(samples.size(), needed());
  std::copy_n(samples.begin(), take, window_.begin() + static_cast<std::ptrdiff_t>(fill_));
  fill_ += take;
  Result r;
  if (fill_ < window_.size()) return r;
  last_probability_ = model_.process(std::span<const float, models::vad::kWindow>(window_));
  const auto u = hysteresis_.update(last_probability_, window_start_);
  window_start_ += models::vad::kWindow;
  fill_ = 0;
  ++windows_;
  if (u.closed) {
    r.utterance_ended = true;
    r.kept = u.kept;
    r.end_sample = hysteresis_.segment_end();
  }
  return r;
}

VadGate::Result VadGate::finish(std::int64_t total_samples) {
  Result r;
  const auto u = hysteresis_.finish(total_samples);
  if (u.closed) {
    r.utterance_ended = true;
    r.kept = u.kept;
    r.end_sample = hysteresis_.segment_end();
  }
  return r;
}

}  // namespace earshot::nodes::caption
