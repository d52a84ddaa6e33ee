// Streaming voice-activity detection for live audio: push 16 kHz mono samples in blocks of any
// size; every completed 512-sample window yields its speech probability, and speech start/end
// events come from the same hysteresis as the offline helper (speech_hysteresis.hpp).
//
// Events are reported once they are certain:
//   SpeechStart when the segment is sure to outlast min_speech (so short clicks never start
//     speech), with sample = segment start - pad (not before 0) — a position in the past;
//   SpeechEnd when the silence has lasted min_silence, with sample = silence start + pad.
// The (start, end) pairs equal the offline speech_segments() of the same audio whenever
// min_silence >= 2 * pad (true of the defaults: the offline helper only shares a gap between
// neighbours when it is shorter than two paddings, which a streaming detector cannot know yet).
//
// Everything is reserved at construction; push() and finish() never allocate, lock or wait,
// so they may run on the audio thread. Results go to a listener, called synchronously.
#pragma once

#include "models/vad/silero_vad.hpp"
#include "models/vad/speech_hysteresis.hpp"

#include <cstdint>
#include <span>

namespace earshot::models::vad {

struct VadEvent {
  enum class Kind { SpeechStart, SpeechEnd };
  Kind kind = Kind::SpeechStart;
  std::int64_t sample = 0;      // the (padded) boundary, in samples since the stream start
  std::int64_t decided_at = 0;  // samples pushed when it was decided (latency = this - sample)
};

class VadListener {
 public:
  virtual ~VadListener() = default;
  // The window [window_start, window_start + 512) has this speech probability.
  virtual void on_probability(std::int64_t window_start, float probability) {
    (void)window_start;
    (void)probability;
  }
  virtual void on_event(const VadEvent& event) { (void)event; }
};

class StreamingVad {
 public:
  // `weights` must outlive the detector. Throws std::invalid_argument for bad parameters
  // (and when params.window / sample_rate are not the model's 512 / 16000).
  StreamingVad(const SileroWeights& weights, rt::MemoryBudget& budget,
               const SpeechParams& params = {});

  // Consumes `samples` (16 kHz mono). Allocation-free.
  void push(std::span<const float> samples, VadListener& listener);
  // End of the stream: runs a partial last window zero-padded (as the offline helper does)
  // and closes open speech at the end. Push after finish() starts counting a new stream only
  // after reset().
  void finish(VadListener& listener);
  // Back to the start of a stream (model state, hysteresis, counters).
  void reset();

  bool in_speech() const { return hysteresis_.confirmed(); }
  std::int64_t samples_pushed() const { return pushed_; }
  float last_probability() const { return last_probability_; }
  const SpeechParams& params() const { return hysteresis_.params(); }

 private:
  void run_window(VadListener& listener);
  void report(const SpeechHysteresis::Update& update, VadListener& listener);

  SileroVad model_;
  SpeechHysteresis hysteresis_;
  rt::Reservation window_;  // the partial window being filled
  int filled_ = 0;
  std::int64_t pushed_ = 0;
  std::int64_t next_window_start_ = 0;
  float last_probability_ = 0.0f;
  double pad_ = 0.0;
};

}  // namespace earshot::models::vad
