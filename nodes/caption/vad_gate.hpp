// Voice-activity gate for the caption node: an adapter over the VAD library's StreamingVad
// (Silero VAD over consecutive 512-sample windows, silero-vad's speech/silence hysteresis). The
// node asks it whether confirmed speech is going on (only then is Whisper run) and learns from
// push() when an utterance ended (then pending text is committed).
//
// Everything is reserved at construction; push() allocates nothing.
#pragma once

#include "models/vad/streaming_vad.hpp"

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
    bool utterance_ended = false;  // speech ended within the samples pushed
    std::int64_t end_sample = 0;   // where (stream samples, padding included)
  };
  // Feeds samples of the stream, in order.
  Result push(std::span<const float> samples);
  // End of the stream: the partial last window, and an open utterance is closed.
  Result finish();

  // Speech long enough to count (min_speech) is going on now.
  bool speaking() const { return vad_.in_speech(); }
  float last_probability() const { return vad_.last_probability(); }

 private:
  struct Listener final : models::vad::VadListener {
    Result result;
    void on_event(const models::vad::VadEvent& e) override {
      if (e.kind == models::vad::VadEvent::Kind::SpeechEnd) {
        result.utterance_ended = true;
        result.end_sample = e.sample;
      }
    }
  };

  models::vad::StreamingVad vad_;
};

}  // namespace earshot::nodes::caption
