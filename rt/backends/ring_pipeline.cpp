#include "rt/backends/ring_pipeline.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <ctime>
#include <limits>

namespace earshot::rt {

void PassThroughNode::process(const float* in, std::uint32_t in_channels, float* out,
                              std::uint32_t out_channels, std::uint32_t frames) noexcept {
  for (std::uint32_t i = 0; i < frames; ++i)
    for (std::uint32_t c = 0; c < out_channels; ++c)
      out[i * out_channels + c] = in[i * in_channels + (c % in_channels)];
}

float amplitude_to_dbfs(float amplitude) {
  if (!(amplitude > 0.0f)) return -std::numeric_limits<float>::infinity();
  return 20.0f * std::log10(amplitude);
}

namespace {

std::uint32_t checked_block(const BlockNode& node) {
  const std::uint32_t b = node.block_frames();
  if (b == 0 || b > (1u << 20)) throw BackendError("pipeline: node block size must be 1..1048576");
  return b;
}

// Room for the primed latency, a burst of late worker wake-ups, and at least half a second.
std::size_t ring_frames(const PipelineConfig& c, std::uint32_t block, std::uint32_t prime) {
  const std::size_t half_second = static_cast<std::size_t>(c.sample_rate / 2);
  return std::max<std::size_t>(prime + 8ull * c.period_frames + 2ull * block, half_second);
}

}  // namespace

RingPipeline::RingPipeline(BlockNode& node, const PipelineConfig& config)
    : node_(node),
      config_(config),
      block_frames_(checked_block(node)),
      prime_frames_(config.period_frames + block_frames_ + config.headroom_frames),
      chunk_frames_(std::max<std::uint32_t>(config.period_frames, 64)),
      in_ring_(ring_frames(config, block_frames_, prime_frames_) *
               std::max(1u, config.input_channels)),
      out_ring_(ring_frames(config, block_frames_, prime_frames_) *
                std::max(1u, config.output_channels)) {
  if (config.input_channels == 0 || config.output_channels == 0)
    throw BackendError("pipeline: needs at least one input and one output channel");
  if (config.period_frames == 0) throw BackendError("pipeline: period must be at least 1 frame");
  if (!(config.sample_rate > 0)) throw BackendError("pipeline: sample rate must be positive");
  const std::uint32_t max_ch = std::max(config.input_channels, config.output_channels);
  rt_interleaved_.assign(static_cast<std::size_t>(chunk_frames_) * max_ch, 0.0f);
  rt_generated_.assign(config.input_channels, std::vector<float>(chunk_frames_, 0.0f));
  for (auto& c : rt_generated_) rt_generated_ptrs_.push_back(c.data());
  worker_in_.assign(static_cast<std::size_t>(block_frames_) * config.input_channels, 0.0f);
  worker_out_.assign(static_cast<std::size_t>(block_frames_) * config.output_channels, 0.0f);
  meter_peak_.assign(config.output_channels, 0.0f);
  meter_sum_squares_.assign(config.output_channels, 0.0f);
  meter_window_frames_ = std::max<std::uint64_t>(
      1, static_cast<std::uint64_t>(config.meter_interval_seconds * config.sample_rate));
  published_peak_ = std::make_unique<std::atomic<float>[]>(config.output_channels);
  published_rms_ = std::make_unique<std::atomic<float>[]>(config.output_channels);
  for (std::uint32_t c = 0; c < config.output_channels; ++c) {
    published_peak_[c].store(0.0f);
    published_rms_[c].store(0.0f);
  }
  if (sem_init(&wake_, 0, 0) != 0)
    throw BackendError("pipeline: cannot create the worker semaphore");
}

RingPipeline::~RingPipeline() {
  stop();
  sem_destroy(&wake_);
}

void RingPipeline::start() {
  if (running_.load()) return;
  // Drain anything left from a previous run, then prime with exactly the latency in silence.
  in_ring_.skip(in_ring_.read_available());
  out_ring_.skip(out_ring_.read_available());
  std::vector<float> silence(static_cast<std::size_t>(prime_frames_) * config_.output_channels,
                             0.0f);
  out_ring_.write(silence);
  owed_frames_ = 0;
  meter_frames_ = 0;
  std::fill(meter_peak_.begin(), meter_peak_.end(), 0.0f);
  std::fill(meter_sum_squares_.begin(), meter_sum_squares_.end(), 0.0f);
  for (auto* counter : {&callbacks_, &frames_in_, &frames_processed_, &underflows_,
                        &underflow_frames_, &overflows_, &overflow_frames_})
    counter->store(0);
  running_.store(true);
  worker_ = std::thread([this] { worker_loop(); });
}

void RingPipeline::stop() {
  if (!running_.exchange(false)) return;
  sem_post(&wake_);
  if (worker_.joinable()) worker_.join();
}

void RingPipeline::process(const float* const* in, float* const* out,
                           std::uint32_t frames) noexcept {
  callbacks_.fetch_add(1, std::memory_order_relaxed);
  // Split callbacks larger than the scratch (a JACK period change, a big file read).
  for (std::uint32_t offset = 0; offset < frames; offset += chunk_frames_)
    process_chunk(in, out, offset, std::min(chunk_frames_, frames - offset));
  sem_post(&wake_);
}

void RingPipeline::process_chunk(const float* const* in, float* const* out, std::uint32_t offset,
                                 std::uint32_t frames) noexcept {
  const std::uint32_t ci = config_.input_channels;
  const std::uint32_t co = config_.output_channels;
  float* scratch = rt_interleaved_.data();

  // Input: planar (backend or generator) -> interleaved -> input ring, whole frames only.
  const float* const* src = in;
  std::uint32_t src_offset = offset;
  if (generator_ != nullptr) {
    generator_->generate(rt_generated_ptrs_.data(), ci, frames);
    src = rt_generated_ptrs_.data();
    src_offset = 0;
  }
  for (std::uint32_t i = 0; i < frames; ++i)
    for (std::uint32_t c = 0; c < ci; ++c)
      scratch[i * ci + c] = src != nullptr && src[c] != nullptr ? src[c][src_offset + i] : 0.0f;
  const std::uint32_t room =
      static_cast<std::uint32_t>(std::min<std::size_t>(in_ring_.write_available() / ci, frames));
  in_ring_.write(std::span<const float>(scratch, static_cast<std::size_t>(room) * ci));
  frames_in_.fetch_add(room, std::memory_order_relaxed);
  if (room < frames) {
    overflows_.fetch_add(1, std::memory_order_relaxed);
    overflow_frames_.fetch_add(frames - room, std::memory_order_relaxed);
    owed_frames_ -= frames - room;  // that output will be missing: its gap is the silence
  }

  // Output: realign after an earlier underflow, then output ring -> planar.
  if (owed_frames_ > 0) {
    const std::size_t skippable = out_ring_.read_available() / co;
    const std::size_t skip =
        std::min<std::size_t>(skippable, static_cast<std::size_t>(owed_frames_));
    out_ring_.skip(skip * co);
    owed_frames_ -= static_cast<std::int64_t>(skip);
  }
  const std::uint32_t got =
      static_cast<std::uint32_t>(std::min<std::size_t>(out_ring_.read_available() / co, frames));
  out_ring_.read(std::span<float>(scratch, static_cast<std::size_t>(got) * co));
  // A backend without outputs (capture only) passes out == nullptr: the ring is still drained.
  for (std::uint32_t c = 0; out != nullptr && c < co; ++c) {
    float* dst = out[c] + offset;
    for (std::uint32_t i = 0; i < got; ++i) dst[i] = scratch[i * co + c];
    for (std::uint32_t i = got; i < frames; ++i) dst[i] = 0.0f;
  }
  if (got < frames) {
    underflows_.fetch_add(1, std::memory_order_relaxed);
    underflow_frames_.fetch_add(frames - got, std::memory_order_relaxed);
    owed_frames_ += frames - got;
  }
}

void RingPipeline::wait_until_caught_up() noexcept {
  const std::uint64_t pushed = frames_in_.load(std::memory_order_relaxed);
  const std::uint64_t target = pushed / block_frames_ * block_frames_;
  while (running_.load(std::memory_order_relaxed) &&
         frames_processed_.load(std::memory_order_acquire) < target) {
    sem_post(&wake_);
    std::this_thread::sleep_for(std::chrono::microseconds(20));
  }
}

void RingPipeline::worker_loop() {
  const std::uint32_t ci = config_.input_channels;
  const std::uint32_t co = config_.output_channels;
  const std::size_t in_samples = static_cast<std::size_t>(block_frames_) * ci;
  const std::size_t out_samples = static_cast<std::size_t>(block_frames_) * co;
  while (running_.load(std::memory_order_acquire)) {
    // A timed wait so stop() never depends on a callback arriving.
    timespec deadline{};
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_nsec += 20'000'000;
    if (deadline.tv_nsec >= 1'000'000'000) {
      deadline.tv_sec += 1;
      deadline.tv_nsec -= 1'000'000'000;
    }
    while (sem_timedwait(&wake_, &deadline) == -1 && errno == EINTR) {
    }
    while (in_ring_.read_available() >= in_samples) {
      // Never take a block we could not deliver: wait for the audio thread to make room.
      if (out_ring_.write_available() < out_samples) break;
      in_ring_.read(worker_in_);
      node_.process(worker_in_.data(), ci, worker_out_.data(), co, block_frames_);
      meter(worker_out_.data(), block_frames_);
      out_ring_.write(worker_out_);
      frames_processed_.fetch_add(block_frames_, std::memory_order_release);
    }
  }
}

void RingPipeline::meter(const float* block, std::uint32_t frames) {
  const std::uint32_t co = config_.output_channels;
  for (std::uint32_t i = 0; i < frames; ++i) {
    for (std::uint32_t c = 0; c < co; ++c) {
      const float x = block[i * co + c];
      meter_peak_[c] = std::max(meter_peak_[c], std::fabs(x));
      meter_sum_squares_[c] += x * x;
    }
    if (++meter_frames_ == meter_window_frames_) {
      for (std::uint32_t c = 0; c < co; ++c) {
        published_peak_[c].store(meter_peak_[c], std::memory_order_relaxed);
        published_rms_[c].store(
            std::sqrt(meter_sum_squares_[c] / static_cast<float>(meter_window_frames_)),
            std::memory_order_relaxed);
        meter_peak_[c] = 0.0f;
        meter_sum_squares_[c] = 0.0f;
      }
      meter_frames_ = 0;
    }
  }
}

PipelineStats RingPipeline::stats() const {
  PipelineStats s;
  s.callbacks = callbacks_.load(std::memory_order_relaxed);
  s.frames_in = frames_in_.load(std::memory_order_relaxed);
  s.frames_processed = frames_processed_.load(std::memory_order_relaxed);
  s.underflows = underflows_.load(std::memory_order_relaxed);
  s.underflow_frames = underflow_frames_.load(std::memory_order_relaxed);
  s.overflows = overflows_.load(std::memory_order_relaxed);
  s.overflow_frames = overflow_frames_.load(std::memory_order_relaxed);
  return s;
}

std::vector<ChannelLevel> RingPipeline::levels() const {
  std::vector<ChannelLevel> out(config_.output_channels);
  for (std::uint32_t c = 0; c < config_.output_channels; ++c) {
    out[c].peak_dbfs = amplitude_to_dbfs(published_peak_[c].load(std::memory_order_relaxed));
    out[c].rms_dbfs = amplitude_to_dbfs(published_rms_[c].load(std::memory_order_relaxed));
  }
  return out;
}

}  // namespace earshot::rt
