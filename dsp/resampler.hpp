// Sample-rate conversion with libsoxr (high quality: soxr_quality_spec(SOXR_HQ, 0)),
// float32 interleaved frames, any channel count.
//
// Streaming: process() converts one block and returns the frames produced; the resampler
// holds back its filter delay, which flush() drains at the end of the stream (call flush()
// until it returns 0). Our side allocates nothing after construction. libsoxr keeps internal
// FIFOs that it may grow on early calls or for a larger block than before, so run resampling
// on a worker thread, never in the audio callback.
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <vector>

namespace earshot::dsp {

class Resampler {
 public:
  // Throws std::invalid_argument for non-positive rates or zero channels, std::runtime_error
  // when libsoxr refuses the configuration.
  Resampler(double in_rate, double out_rate, std::size_t channels);
  ~Resampler();
  Resampler(Resampler&&) noexcept;
  Resampler& operator=(Resampler&&) noexcept;
  Resampler(const Resampler&) = delete;
  Resampler& operator=(const Resampler&) = delete;

  double in_rate() const { return in_rate_; }
  double out_rate() const { return out_rate_; }
  std::size_t channels() const { return channels_; }

  // Output frames that process() of input_frames frames (or one flush() call) may produce:
  // size the output buffer with this.
  std::size_t output_capacity(std::size_t input_frames) const;

  // in: interleaved frames (size a multiple of channels); out: room for at least
  // output_capacity(in frames) frames. Consumes all of in; returns the frames written.
  std::size_t process(std::span<const float> in, std::span<float> out);

  // Drains the delayed tail after the last input. Returns frames written; 0 when drained.
  // After flushing, reset() before feeding a new stream.
  std::size_t flush(std::span<float> out);

  // Forget all state: ready for a fresh stream with the same configuration.
  void reset();

 private:
  struct State;
  double in_rate_;
  double out_rate_;
  std::size_t channels_;
  std::unique_ptr<State> state_;
};

// Whole-signal conversion: interleaved `in` with `channels` channels at in_rate -> out_rate.
// Equal rates return a copy. Output has about in_frames * out_rate / in_rate frames.
std::vector<float> resample(const std::vector<float>& in, std::size_t channels, double in_rate,
                            double out_rate);

}  // namespace earshot::dsp
