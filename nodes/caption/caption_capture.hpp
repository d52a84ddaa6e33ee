// The audio-thread side of live captioning: each callback mixes its input to mono, copies it
// into a lock-free SPSC ring and wakes the worker. Nothing else happens on the audio thread: no
// resampling (libsoxr may allocate), no model, no allocation, no lock. When the worker falls so
// far behind that the ring is full, the newest frames are dropped and counted.
//
// The worker side (CaptionFeeder) drains the ring, resamples to 16 kHz and feeds the node.
#pragma once

#include "dsp/resampler.hpp"
#include "nodes/caption/caption_node.hpp"
#include "rt/backends/audio_backend.hpp"
#include "rt/ring_buffer.hpp"
#include "rt/worker_thread.hpp"

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

namespace earshot::nodes::caption {

class CaptionCapture final : public rt::AudioProcessor {
 public:
  // ring_frames: mono frames the ring holds (the worker's slack); max_period: the largest
  // callback expected (larger ones are mixed in pieces).
  CaptionCapture(std::uint32_t channels, std::size_t ring_frames, std::uint32_t max_period = 4096);

  // Woken once per callback (set before the backend starts).
  void set_worker(rt::WorkerThread* worker) { worker_ = worker; }

  // Audio thread.
  void process(const float* const* in, float* const* out, std::uint32_t frames) noexcept override;
  // Offline clocks (a file read as fast as possible): waits until the worker consumed
  // everything delivered so far, so the run is exact instead of dropping frames.
  void wait_until_caught_up() noexcept override;

  // Worker side.
  std::size_t read(std::span<float> out) { return ring_.read(out); }
  std::size_t available() const { return ring_.read_available(); }
  void mark_consumed(std::uint64_t frames) {
    consumed_.fetch_add(frames, std::memory_order_release);
  }

  std::uint64_t frames_in() const { return frames_in_.load(std::memory_order_acquire); }
  std::uint64_t dropped_frames() const { return dropped_.load(std::memory_order_relaxed); }
  std::uint64_t callbacks() const { return callbacks_.load(std::memory_order_relaxed); }
  // Set by the feeder when it stopped for good (worker failed): no more waiting for it.
  void abandon() { abandoned_.store(true, std::memory_order_release); }

 private:
  std::uint32_t channels_;
  std::uint32_t chunk_;
  rt::SpscRing<float> ring_;
  std::vector<float> mono_;  // audio-thread scratch, chunk_ frames
  rt::WorkerThread* worker_ = nullptr;
  std::atomic<std::uint64_t> frames_in_{0}, dropped_{0}, callbacks_{0}, consumed_{0};
  std::atomic<bool> abandoned_{false};
};

// Worker side: ring -> (resample to 16 kHz) -> node. run() is the WorkerThread's work function.
class CaptionFeeder {
 public:
  // `rate`: the capture rate. Allocates its buffers (and the resampler) here.
  CaptionFeeder(CaptionCapture& capture, CaptionNode& node, double rate,
                std::size_t block_frames = 2048);

  // Drains what the ring holds. Worker thread.
  void run();
  // After the audio stopped: drains the ring and the resampler, then node.finish(). Call on the
  // control thread once the worker thread is stopped.
  void finish();

 private:
  void feed(std::size_t frames);

  CaptionCapture& capture_;
  CaptionNode& node_;
  double rate_;
  std::optional<dsp::Resampler> resampler_;
  std::vector<float> in_, out_;
};

}  // namespace earshot::nodes::caption
