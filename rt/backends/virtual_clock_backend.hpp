// The null / virtual-clock backend: no device, a clock the caller controls.
//
// Two clocks:
// - Clock::Manual: nothing runs by itself; the test calls run_periods(n), which runs n periods on
//   the calling thread (that thread becomes the audio thread). Fully deterministic.
// - Clock::RealTime: a thread runs one period every period_frames / sample_rate seconds on
//   absolute deadlines (no drift). A deadline missed by more than a period counts as an xrun.
//
// Input is silence unless set_input() installs a generator; output is discarded unless
// set_output() installs a sink. Both run on the audio thread, just before/after the processor,
// so they must be real-time safe too.
#pragma once

#include "rt/backends/audio_backend.hpp"

#include <atomic>
#include <functional>
#include <thread>
#include <vector>

namespace earshot::rt {

class VirtualClockBackend final : public AudioBackend {
 public:
  enum class Clock { Manual, RealTime };
  // Fills in[c][0..frames) for the period whose first frame is `first_frame`.
  using InputFill = std::function<void(float* const* in, std::uint32_t channels,
                                       std::uint32_t frames, std::uint64_t first_frame)>;
  // Receives out[c][0..frames) of the period whose first frame is `first_frame`.
  using OutputSink = std::function<void(const float* const* out, std::uint32_t channels,
                                        std::uint32_t frames, std::uint64_t first_frame)>;

  explicit VirtualClockBackend(Clock clock = Clock::Manual) : clock_(clock) {}
  ~VirtualClockBackend() override;

  std::string name() const override { return "null"; }
  void open(const StreamConfig& config) override;
  void start(AudioProcessor& processor) override;
  void stop() override;

  double sample_rate() const override { return config_.sample_rate; }
  std::uint32_t period_frames() const override { return config_.period_frames; }
  std::uint32_t input_channels() const override { return config_.input_channels; }
  std::uint32_t output_channels() const override { return config_.output_channels; }
  BackendLatency latency() const override { return {}; }

  // Set before start().
  void set_input(InputFill fill) { input_fill_ = std::move(fill); }
  void set_output(OutputSink sink) { output_sink_ = std::move(sink); }
  // Stop by itself (finished(), not failed()) after this many frames; 0 = never.
  void set_frame_limit(std::uint64_t frames) { frame_limit_ = frames; }

  // Clock::Manual only: runs n periods now, on the calling thread.
  void run_periods(std::size_t n);

  std::uint64_t frames_elapsed() const { return frames_elapsed_.load(std::memory_order_acquire); }

 private:
  void run_one_period() noexcept;
  void paced_loop() noexcept;

  const Clock clock_;
  StreamConfig config_;
  bool opened_ = false;
  AudioProcessor* processor_ = nullptr;
  InputFill input_fill_;
  OutputSink output_sink_;
  std::uint64_t frame_limit_ = 0;
  std::vector<std::vector<float>> in_storage_, out_storage_;
  std::vector<float*> in_ptrs_, out_ptrs_;
  std::atomic<std::uint64_t> frames_elapsed_{0};
  std::atomic<bool> running_{false};
  std::thread thread_;
};

}  // namespace earshot::rt
