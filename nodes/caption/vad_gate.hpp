// Voice-activity gate for the caption node: Silero VAD over consecutive 512-sample windows of
// the 16 kHz stream, with silero-vad's speech/silence hysteresis deciding where utterances begin
// and end. The node asks it whether the window holds confirmed speech (only then is Whisper run)
// and is told when an utterance ends (then pending text is committed).
//
// Everything is reserved at construction; push() allocates nothing.
#pragma once

#include "models/vad/silero_vad.hpp"
#include "models/vad/speech_hysteresis.hpp"

#include <array>
#include <cstdint>
#include <span>

namespace earshot::nodes::caption {

// Defaults for captions: the reference's thresholds, but a longer silence (500 ms instead of
// 100 ms) before an utterance is declared over, so pauses inside a sentence do not cut it.
inline models::vad::SpeechParams caption_speech_params() {
  models::vad::SpeechParams p;
  p.min_silence_ms = 500;
  return p;
}

class VadGate {
 public:
  VadGate(const models::vad::SileroWeights& weights, rt::MemoryBudget& budget,
          const models::vad::SpeechParams& params);

  struct Result {
    bool utterance_ended = false;  // a speech segment closed in this window
    bool kept = false;             // ... and it was long enough to be speech
    std::int64_t end_sample = 0;   // where it ended (stream samples, unpadded)
  };
  // Feeds samples of the stream, in order. Completes at most one window per call: give it no
  // more than needed() samples at a time.
  Result push(std::span<const float> samples);
  // Samples that complete the current window.
  std::size_t needed() const { return models::vad::kWindow - fill_; }
  // End of the stream after `total_samples`: closes an open utterance.
  Result finish(std::int64_t total_samples);

  // Speech long enough to count (min_speech) is going on now.
  bool speaking() const { return hysteresis_.in_speech() && hysteresis_.confirmed(); }
  bool in_speech() const { return hysteresis_.in_speech(); }
  float last_probability() const { return last_probability_; }
  std::uint64_t windows() const { return windows_; }

 private:
  models::vad::SileroVad model_;
  models::vad::SpeechHysteresis hysteresis_;
  std::array<float, models::vad::kWindow> window_{};
  std::size_t fill_ = 0;
  std::int64_t window_start_ = 0;
  std::uint64_t windows_ = 0;
  float last_probability_ = 0.0f;
};

}  // namespace earshot::nodes::caption
