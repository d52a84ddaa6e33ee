#include "models/vad/streaming_vad.hpp"

#include <algorithm>
#include <stdexcept>

namespace earshot::models::vad {
namespace {
const SpeechParams& checked(const SpeechParams& params) {
  params.validate();
  if (params.window != kWindow || params.sample_rate != kSampleRate) {
    throw std::invalid_argument("the Silero VAD model works on 512-sample windows at 16 kHz");
  }
  return params;
}
}  // namespace

StreamingVad::StreamingVad(const SileroWeights& weights, rt::MemoryBudget& budget,
                           const SpeechParams& params)
    : model_(weights, budget),
      hysteresis_(checked(params)),
      window_(budget.reserve_array<float>("vad.stream_window", kWindow)),
      pad_(params.pad_samples()) {}

void StreamingVad::reset() {
  model_.reset();
  hysteresis_.reset();
  filled_ = 0;
  pushed_ = 0;
  next_window_start_ = 0;
  last_probability_ = 0.0f;
}

void StreamingVad::push(std::span<const float> samples, VadListener& listener) {
  float* window = window_.as<float>().data();
  while (!samples.empty()) {
    const auto n =
        std::min<std::size_t>(samples.size(), static_cast<std::size_t>(kWindow - filled_));
    std::copy_n(samples.begin(), n, window + filled_);
    filled_ += static_cast<int>(n);
    pushed_ += static_cast<std::int64_t>(n);
    samples = samples.subspan(n);
    if (filled_ == kWindow) run_window(listener);
  }
}

void StreamingVad::run_window(VadListener& listener) {
  float* window = window_.as<float>().data();
  last_probability_ = model_.process(std::span<const float, kWindow>(window, kWindow));
  filled_ = 0;
  const std::int64_t start = next_window_start_;
  next_window_start_ += kWindow;
  listener.on_probability(start, last_probability_);
  report(hysteresis_.update(last_probability_, start), listener);
}

void StreamingVad::finish(VadListener& listener) {
  if (filled_ > 0) {
    float* window = window_.as<float>().data();
    std::fill(window + filled_, window + kWindow, 0.0f);
    run_window(listener);
  }
  report(hysteresis_.finish(pushed_), listener);
}

void StreamingVad::report(const SpeechHysteresis::Update& update, VadListener& listener) {
  if (update.confirmed) {
    const auto start = static_cast<std::int64_t>(static_cast<double>(hysteresis_.segment_start()) -
                                                 pad_);  // truncates like int()
    listener.on_event({VadEvent::Kind::SpeechStart, std::max<std::int64_t>(0, start), pushed_});
  }
  if (update.closed && update.kept) {
    const auto end =
        static_cast<std::int64_t>(static_cast<double>(hysteresis_.segment_end()) + pad_);
    listener.on_event({VadEvent::Kind::SpeechEnd, std::min(pushed_, end), pushed_});
  }
}

}  // namespace earshot::models::vad
