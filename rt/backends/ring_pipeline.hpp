// The real-time path every node uses: backend -> input ring -> worker thread (node) -> output
// ring -> backend.
//
// The audio thread (process()) only copies: planar input -> interleaved input ring, output ring ->
// planar output, then posts a semaphore to wake the worker. The worker pulls fixed-size blocks,
// runs the node and pushes the result. Everything is allocated in the constructor.
//
// Latency is fixed and exact. start() primes the output ring with
//     latency = period + block + headroom   frames of silence,
// so output frame t is input frame t - latency, whatever the worker's timing, as long as the
// worker keeps up. Why period + block: the block that holds input frame t is complete only after
// the callback that delivers its last frame; the worker then has one period of slack to process
// it before the callback that must play it. `headroom` buys more slack for a loaded machine.
//
// When the worker is late anyway, the callback plays silence for the missing frames, counts an
// underflow, and later skips the same number of frames from the output ring, so the latency stays
// exactly what was reported instead of creeping up. When the input ring is full, the callback
// drops the frames, counts an overflow, and credits them against the next underflow (the dropped
// input simply becomes a silent gap at the same position in the output).
#pragma once

#include "rt/backends/audio_backend.hpp"
#include "rt/ring_buffer.hpp"

#include <semaphore.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

namespace earshot::rt {

// A node run by the worker thread on interleaved blocks of exactly block_frames() frames.
// Runs off the audio thread, but must not allocate in process() either (DESIGN.md).
class BlockNode {
 public:
  virtual ~BlockNode() = default;
  virtual std::uint32_t block_frames() const = 0;
  // Algorithmic delay of the node itself, added to the pipeline's reported latency.
  virtual std::uint32_t latency_frames() const { return 0; }
  // in: frames x in_channels interleaved; out: frames x out_channels interleaved.
  virtual void process(const float* in, std::uint32_t in_channels, float* out,
                       std::uint32_t out_channels, std::uint32_t frames) noexcept = 0;
};

// Copies input to output; output channel c takes input channel c % in_channels.
class PassThroughNode final : public BlockNode {
 public:
  explicit PassThroughNode(std::uint32_t block_frames) : block_frames_(block_frames) {}
  std::uint32_t block_frames() const override { return block_frames_; }
  void process(const float* in, std::uint32_t in_channels, float* out, std::uint32_t out_channels,
               std::uint32_t frames) noexcept override;

 private:
  std::uint32_t block_frames_;
};

// Replaces the backend's input on the audio thread (a generated test signal). Real-time safe.
class InputGenerator {
 public:
  virtual ~InputGenerator() = default;
  virtual void generate(float* const* out, std::uint32_t channels,
                        std::uint32_t frames) noexcept = 0;
};

struct PipelineConfig {
  std::uint32_t input_channels = 1;
  std::uint32_t output_channels = 1;
  // The backend's period (the largest callback expected; larger callbacks are split).
  std::uint32_t period_frames = 256;
  // Extra frames of latency beyond period + block, for slack on a loaded machine.
  std::uint32_t headroom_frames = 0;
  double sample_rate = 48000.0;
  // Level meters publish once per this many seconds of audio.
  double meter_interval_seconds = 0.1;
};

struct ChannelLevel {
  float peak_dbfs;
  float rms_dbfs;
};

struct PipelineStats {
  std::uint64_t callbacks = 0;
  std::uint64_t frames_in = 0;         // frames the audio thread pushed into the input ring
  std::uint64_t frames_processed = 0;  // frames the worker ran through the node
  std::uint64_t underflows = 0;        // callbacks that found the output ring short
  std::uint64_t underflow_frames = 0;  // silent frames played because of it
  std::uint64_t overflows = 0;         // callbacks that found the input ring full
  std::uint64_t overflow_frames = 0;   // input frames dropped because of it
};

class RingPipeline final : public AudioProcessor {
 public:
  // Allocates rings, scratch buffers and meters. `node` must outlive the pipeline.
  RingPipeline(BlockNode& node, const PipelineConfig& config);
  ~RingPipeline() override;

  // Input-to-output delay in frames: ring priming plus the node's own latency.
  std::uint32_t latency_frames() const { return prime_frames_ + node_.latency_frames(); }

  // Generated input instead of the backend's (nullptr = use the backend's). Set before start().
  void set_input_generator(InputGenerator* generator) { generator_ = generator; }

  // Primes the output ring and starts the worker; call before the backend's start().
  void start();
  // Stops the worker; call after the backend's stop().
  void stop();

  // Audio thread.
  void process(const float* const* in, float* const* out, std::uint32_t frames) noexcept override;

  // Offline clocks: waits until the worker has processed every complete block pushed so far.
  void wait_until_caught_up() noexcept override;

  PipelineStats stats() const;
  // Latest published levels of the node's output, one per output channel (-inf dB when silent).
  std::vector<ChannelLevel> levels() const;
  // Worker side: frames the node has produced so far (for deterministic tests).
  std::uint64_t frames_processed() const {
    return frames_processed_.load(std::memory_order_acquire);
  }

 private:
  void worker_loop();
  void process_chunk(const float* const* in, float* const* out, std::uint32_t offset,
                     std::uint32_t frames) noexcept;
  void meter(const float* block, std::uint32_t frames);

  BlockNode& node_;
  const PipelineConfig config_;
  const std::uint32_t block_frames_;
  const std::uint32_t prime_frames_;
  const std::uint32_t chunk_frames_;  // audio-thread sub-block size (scratch capacity)
  SpscRing<float> in_ring_;
  SpscRing<float> out_ring_;
  InputGenerator* generator_ = nullptr;

  // Audio-thread scratch.
  std::vector<float> rt_interleaved_;
  std::vector<std::vector<float>> rt_generated_;
  std::vector<float*> rt_generated_ptrs_;
  std::int64_t owed_frames_ = 0;  // >0: frames to skip from the output ring to realign

  // Worker scratch and meter accumulators.
  std::vector<float> worker_in_, worker_out_;
  std::vector<float> meter_peak_, meter_sum_squares_;
  std::uint64_t meter_frames_ = 0;
  std::uint64_t meter_window_frames_;
  std::unique_ptr<std::atomic<float>[]> published_peak_, published_rms_;

  std::atomic<std::uint64_t> callbacks_{0}, frames_in_{0}, frames_processed_{0};
  std::atomic<std::uint64_t> underflows_{0}, underflow_frames_{0}, overflows_{0},
      overflow_frames_{0};

  sem_t wake_{};
  std::atomic<bool> running_{false};
  std::thread worker_;
};

// Peak and RMS of a level in dBFS; -inf for silence.
float amplitude_to_dbfs(float amplitude);

}  // namespace earshot::rt
