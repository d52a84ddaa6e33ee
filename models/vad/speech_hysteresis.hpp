// Speech/silence decisions from per-window probabilities, as silero-vad's speech-timestamp
// helper makes them: speech starts at the first window with p >= threshold; once in speech,
// only a run of windows with p < neg_threshold (default threshold - 0.15) lasting at least
// min_silence ends it, at the first window of that run. Segments not longer than min_speech
// are dropped. Padding is applied afterwards (speech_segments.hpp, streaming_vad.hpp).
//
// The same state machine drives the offline helper and the streaming detector, so both make
// identical decisions. It never allocates.
#pragma once

#include <cstdint>
#include <string>

namespace earshot::models::vad {

struct SpeechParams {
  double threshold = 0.5;
  double neg_threshold = -1.0;  // < 0: max(threshold - 0.15, 0.01), the reference's default
  int min_speech_ms = 250;
  int min_silence_ms = 100;
  int speech_pad_ms = 30;
  int sample_rate = 16000;
  int window = 512;

  double effective_neg_threshold() const;
  double min_speech_samples() const { return sample_rate * min_speech_ms / 1000.0; }
  double min_silence_samples() const { return sample_rate * min_silence_ms / 1000.0; }
  double pad_samples() const { return sample_rate * speech_pad_ms / 1000.0; }
  // Throws std::invalid_argument naming the bad parameter (thresholds outside [0, 1] or NaN,
  // negative durations, non-positive window or rate).
  void validate() const;
};

class SpeechHysteresis {
 public:
  explicit SpeechHysteresis(const SpeechParams& params);

  struct Update {
    bool confirmed = false;  // the current segment will be kept (longer than min_speech)
    bool closed = false;     // a segment ended: [segment_start(), segment_end()) unpadded
    bool kept = false;       // ... and is longer than min_speech
  };

  // Feeds the probability of the window starting at sample `window_start` (windows in order).
  Update update(float probability, std::int64_t window_start);
  // End of the audio after `total_samples`: closes an open segment there.
  Update finish(std::int64_t total_samples);
  void reset();

  bool in_speech() const { return triggered_; }
  bool confirmed() const { return confirmed_; }
  std::int64_t segment_start() const { return start_; }
  std::int64_t segment_end() const { return end_; }
  const SpeechParams& params() const { return params_; }

 private:
  bool long_enough(std::int64_t end) const {
    return static_cast<double>(end - start_) > min_speech_;
  }

  SpeechParams params_;
  double neg_threshold_;
  double min_speech_;
  double min_silence_;
  bool triggered_ = false;
  bool confirmed_ = false;
  std::int64_t start_ = 0;
  std::int64_t end_ = 0;
  std::int64_t temp_end_ = 0;  // first window of the current silence run; 0 = none
};

}  // namespace earshot::models::vad
