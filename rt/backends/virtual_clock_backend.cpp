#include "rt/backends/virtual_clock_backend.hpp"

#include "rt/audio_thread_guard.hpp"

#include <algorithm>
#include <cerrno>
#include <ctime>

namespace earshot::rt {

namespace {

constexpr std::int64_t kNanosPerSecond = 1'000'000'000;

void add_nanos(timespec& t, std::int64_t nanos) {
  std::int64_t total = t.tv_nsec + nanos;
  t.tv_sec += static_cast<time_t>(total / kNanosPerSecond);
  t.tv_nsec = static_cast<long>(total % kNanosPerSecond);
}

std::int64_t nanos_between(const timespec& a, const timespec& b) {
  return (b.tv_sec - a.tv_sec) * kNanosPerSecond + (b.tv_nsec - a.tv_nsec);
}

}  // namespace

VirtualClockBackend::~VirtualClockBackend() {
  stop();
}

void VirtualClockBackend::open(const StreamConfig& config) {
  if (running_.load()) throw BackendError("null backend: open() while running; stop() first");
  if (!(config.sample_rate > 0.0) || config.sample_rate > 1'000'000.0)
    throw BackendError("null backend: sample rate must be between 1 and 1000000 Hz");
  if (config.period_frames == 0 || config.period_frames > 1u << 20)
    throw BackendError("null backend: period must be between 1 and 1048576 frames");
  config_ = config;
  in_storage_.assign(config.input_channels, std::vector<float>(config.period_frames, 0.0f));
  out_storage_.assign(config.output_channels, std::vector<float>(config.period_frames, 0.0f));
  in_ptrs_.clear();
  out_ptrs_.clear();
  for (auto& c : in_storage_) in_ptrs_.push_back(c.data());
  for (auto& c : out_storage_) out_ptrs_.push_back(c.data());
  frames_elapsed_.store(0);
  opened_ = true;
}

void VirtualClockBackend::start(AudioProcessor& processor) {
  if (!opened_) throw BackendError("null backend: start() before open()");
  if (running_.load()) throw BackendError("null backend: already started");
  processor_ = &processor;
  reset_status();
  running_.store(true);
  if (clock_ == Clock::RealTime) thread_ = std::thread([this] { paced_loop(); });
}

void VirtualClockBackend::stop() {
  running_.store(false);
  if (thread_.joinable()) thread_.join();
}

void VirtualClockBackend::run_periods(std::size_t n) {
  if (clock_ != Clock::Manual)
    throw BackendError("null backend: run_periods() needs Clock::Manual");
  if (!running_.load()) throw BackendError("null backend: run_periods() before start()");
  for (std::size_t i = 0; i < n && !finished(); ++i) run_one_period();
}

void VirtualClockBackend::run_one_period() noexcept {
  const std::uint64_t first = frames_elapsed_.load(std::memory_order_relaxed);
  const std::uint32_t frames = config_.period_frames;
  if (input_fill_) {
    input_fill_(in_ptrs_.data(), config_.input_channels, frames, first);
  }
  {
    // The processor's callback runs as the audio thread (named earshot-rt on the first call);
    // the test's input/output hooks around it do not.
    AudioThreadScope audio_thread;
    processor_->process(in_ptrs_.empty() ? nullptr : in_ptrs_.data(),
                        out_ptrs_.empty() ? nullptr : out_ptrs_.data(), frames);
  }
  if (output_sink_) output_sink_(out_ptrs_.data(), config_.output_channels, frames, first);
  const std::uint64_t now = first + frames;
  frames_elapsed_.store(now, std::memory_order_release);
  if (frame_limit_ != 0 && now >= frame_limit_)
    mark_finished("reached the requested length", false);
}

void VirtualClockBackend::paced_loop() noexcept {
  const std::int64_t period_ns = static_cast<std::int64_t>(
      static_cast<double>(config_.period_frames) * kNanosPerSecond / config_.sample_rate);
  timespec deadline{};
  clock_gettime(CLOCK_MONOTONIC, &deadline);
  while (running_.load(std::memory_order_relaxed) && !finished()) {
    run_one_period();
    add_nanos(deadline, period_ns);
    timespec now{};
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (nanos_between(deadline, now) > period_ns) {
      // More than a whole period late: a real device would have glitched. Count it and
      // restart the schedule from now instead of bursting to catch up.
      count_xrun();
      deadline = now;
      continue;
    }
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &deadline, nullptr) == EINTR) {
    }
  }
}

}  // namespace earshot::rt
