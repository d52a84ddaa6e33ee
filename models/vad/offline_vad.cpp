#include "models/vad/offline_vad.hpp"

#include <algorithm>
#include <array>
#include <stdexcept>

namespace earshot::models::vad {

std::vector<float> speech_probabilities(SileroVad& model, std::span<const float> audio) {
  model.reset();
  std::vector<float> probs;
  probs.reserve((audio.size() + kWindow - 1) / kWindow);
  std::array<float, kWindow> window{};
  for (std::size_t at = 0; at < audio.size(); at += kWindow) {
    const std::size_t n = std::min<std::size_t>(kWindow, audio.size() - at);
    std::copy_n(audio.begin() + static_cast<std::ptrdiff_t>(at), n, window.begin());
    std::fill(window.begin() + static_cast<std::ptrdiff_t>(n), window.end(), 0.0f);
    probs.push_back(model.process(window));
  }
  return probs;
}

std::vector<SpeechSegment> detect_speech(SileroVad& model, std::span<const float> audio,
                                         const SpeechParams& params) {
  if (params.window != kWindow || params.sample_rate != kSampleRate) {
    throw std::invalid_argument("the Silero VAD model works on 512-sample windows at 16 kHz");
  }
  const auto probs = speech_probabilities(model, audio);
  return speech_segments(probs, static_cast<std::int64_t>(audio.size()), params);
}

}  // namespace earshot::models::vad
