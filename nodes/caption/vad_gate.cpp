#include "nodes/caption/vad_gate.hpp"

namespace earshot::nodes::caption {

VadGate::VadGate(const models::vad::SileroWeights& weights, rt::MemoryBudget& budget,
                 const models::vad::SpeechParams& params)
    : vad_(weights, budget, params) {}

VadGate::Result VadGate::push(std::span<const float> samples) {
  Listener listener;
  vad_.push(samples, listener);
  return listener.result;
}

VadGate::Result VadGate::finish() {
  Listener listener;
  vad_.finish(listener);
  return listener.result;
}

}  // namespace earshot::nodes::caption
