// Whole-recording helpers: probabilities of every 512-sample window and the speech segments,
// as silero-vad's get_speech_timestamps computes them (the last partial window zero-padded).
#pragma once

#include "models/vad/silero_vad.hpp"
#include "models/vad/speech_segments.hpp"

#include <span>
#include <vector>

namespace earshot::models::vad {

// Resets `model`, then returns one probability per window of 16 kHz mono `audio`.
std::vector<float> speech_probabilities(SileroVad& model, std::span<const float> audio);

// speech_probabilities followed by speech_segments.
std::vector<SpeechSegment> detect_speech(SileroVad& model, std::span<const float> audio,
                                         const SpeechParams& params = {});

}  // namespace earshot::models::vad
