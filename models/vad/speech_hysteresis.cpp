#include "models/vad/speech_hysteresis.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace earshot::models::vad {

double SpeechParams::effective_neg_threshold() const {
  return neg_threshold >= 0.0 ? neg_threshold : std::max(threshold - 0.15, 0.01);
}

void SpeechParams::validate() const {
  if (!(threshold >= 0.0 && threshold <= 1.0)) {
    throw std::invalid_argument("VAD threshold must be within [0, 1], got " +
                                std::to_string(threshold));
  }
  if (!(neg_threshold <= 1.0) || std::isnan(neg_threshold)) {
    throw std::invalid_argument("VAD negative threshold must be at most 1, got " +
                                std::to_string(neg_threshold));
  }
  if (min_speech_ms < 0 || min_silence_ms < 0 || speech_pad_ms < 0) {
    throw std::invalid_argument("VAD durations (min speech, min silence, padding) must be >= 0");
  }
  if (sample_rate <= 0 || window <= 0) {
    throw std::invalid_argument("VAD sample rate and window must be positive");
  }
}

SpeechHysteresis::SpeechHysteresis(const SpeechParams& params)
    : params_(params),
      neg_threshold_(params.effective_neg_threshold()),
      min_speech_(params.min_speech_samples()),
      min_silence_(params.min_silence_samples()) {
  params_.validate();
}

void SpeechHysteresis::reset() {
  triggered_ = confirmed_ = false;
  start_ = end_ = temp_end_ = 0;
}

SpeechHysteresis::Update SpeechHysteresis::update(float probability, std::int64_t cur) {
  Update u;
  const double p = probability;  // compared in double, as the reference does
  if (p >= params_.threshold && temp_end_ != 0) temp_end_ = 0;  // speech is back
  if (p >= params_.threshold && !triggered_) {
    triggered_ = true;
    confirmed_ = false;
    start_ = cur;
    return u;
  }
  if (!triggered_) return u;
  if (p < neg_threshold_ && temp_end_ == 0) temp_end_ = cur;
  // Whatever happens next, the segment ends no earlier than the current silence run's start
  // (or, outside one, after this window): once that is longer than min_speech, it is kept.
  if (!confirmed_ && long_enough(temp_end_ != 0 ? temp_end_ : cur)) {
    confirmed_ = true;
    u.confirmed = true;
  }
  if (p < neg_threshold_ && static_cast<double>(cur - temp_end_) >= min_silence_) {
    end_ = temp_end_;
    u.closed = true;
    u.kept = long_enough(end_);
    triggered_ = confirmed_ = false;
    temp_end_ = 0;
  }
  return u;
}

SpeechHysteresis::Update SpeechHysteresis::finish(std::int64_t total_samples) {
  Update u;
  if (triggered_) {
    end_ = total_samples;
    u.closed = true;
    u.kept = long_enough(end_);
    if (u.kept && !confirmed_) u.confirmed = true;
  }
  triggered_ = confirmed_ = false;
  temp_end_ = 0;
  return u;
}

}  // namespace earshot::models::vad
