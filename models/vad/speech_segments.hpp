// Speech segments of a whole recording, as silero-vad's get_speech_timestamps computes them
// (with max_speech_duration = inf): hysteresis and minimum durations (speech_hysteresis.hpp),
// then each segment padded by speech_pad on both sides, except that a gap shorter than twice
// the padding is split half and half between its neighbours.
#pragma once

#include "models/vad/speech_hysteresis.hpp"

#include <cstdint>
#include <span>
#include <vector>

namespace earshot::models::vad {

struct SpeechSegment {
  std::int64_t start = 0;  // samples
  std::int64_t end = 0;    // samples, exclusive
};

// `probabilities[i]` is the speech probability of the window starting at i * params.window;
// `total_samples` is the length of the audio (the last window may have been zero-padded).
std::vector<SpeechSegment> speech_segments(std::span<const float> probabilities,
                                           std::int64_t total_samples,
                                           const SpeechParams& params = {});

// Applies the reference's padding to unpadded segments (in order, non-overlapping).
void pad_segments(std::vector<SpeechSegment>& segments, std::int64_t total_samples,
                  const SpeechParams& params);

}  // namespace earshot::models::vad
