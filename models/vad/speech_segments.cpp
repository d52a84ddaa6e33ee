#include "models/vad/speech_segments.hpp"

#include <algorithm>

namespace earshot::models::vad {

std::vector<SpeechSegment> speech_segments(std::span<const float> probabilities,
                                           std::int64_t total_samples, const SpeechParams& params) {
  SpeechHysteresis hysteresis(params);
  std::vector<SpeechSegment> segments;
  for (std::size_t i = 0; i < probabilities.size(); ++i) {
    const auto u =
        hysteresis.update(probabilities[i], static_cast<std::int64_t>(i) * params.window);
    if (u.closed && u.kept)
      segments.push_back({hysteresis.segment_start(), hysteresis.segment_end()});
  }
  const auto u = hysteresis.finish(total_samples);
  if (u.closed && u.kept)
    segments.push_back({hysteresis.segment_start(), hysteresis.segment_end()});
  pad_segments(segments, total_samples, params);
  return segments;
}

void pad_segments(std::vector<SpeechSegment>& segments, std::int64_t total_samples,
                  const SpeechParams& params) {
  // The reference keeps the padding as a float and truncates each result with int().
  const double pad = params.pad_samples();
  auto trunc = [](double v) { return static_cast<std::int64_t>(v); };
  for (std::size_t i = 0; i < segments.size(); ++i) {
    auto& s = segments[i];
    if (i == 0) s.start = std::max<std::int64_t>(0, trunc(static_cast<double>(s.start) - pad));
    if (i + 1 < segments.size()) {
      auto& next = segments[i + 1];
      const std::int64_t gap = next.start - s.end;
      if (static_cast<double>(gap) < 2.0 * pad) {
        // Too short for both paddings: the neighbours share the gap.
        s.end += gap / 2;
        next.start = std::max<std::int64_t>(0, next.start - gap / 2);
      } else {
        s.end = std::min(total_samples, trunc(static_cast<double>(s.end) + pad));
        next.start = std::max<std::int64_t>(0, trunc(static_cast<double>(next.start) - pad));
      }
    } else {
      s.end = std::min(total_samples, trunc(static_cast<double>(s.end) + pad));
    }
  }
}

}  // namespace earshot::models::vad
