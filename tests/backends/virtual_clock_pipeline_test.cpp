// The virtual-clock backend driving the monitor pipeline (ring -> worker -> ring): the signal
// must come out bit-identical, delayed by exactly the latency the pipeline reports.
#include "rt/audio_thread_guard.hpp"
#include "rt/backends/ring_pipeline.hpp"
#include "rt/backends/tone_generator.hpp"
#include "rt/backends/virtual_clock_backend.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <random>
#include <thread>
#include <vector>

namespace earshot::rt {
namespace {

// Deterministic but not periodic, so a wrong delay cannot match by accident.
std::vector<float> noise(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

void wait_for_worker(const RingPipeline& pipeline, std::uint64_t frames) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (pipeline.frames_processed() < frames && std::chrono::steady_clock::now() < deadline)
    std::this_thread::yield();
  ASSERT_GE(pipeline.frames_processed(), frames) << "worker did not catch up";
}

struct PipelineRun {
  std::vector<std::vector<float>> input, output;
  std::uint32_t latency = 0;
  PipelineStats stats;
};

PipelineRun run_manual(std::uint32_t channels, std::uint32_t period, std::uint32_t block,
                       std::uint32_t headroom, std::size_t periods) {
  PipelineRun run;
  const std::size_t total = periods * period;
  for (std::uint32_t c = 0; c < channels; ++c) run.input.push_back(noise(total, 7 + c));
  run.output.assign(channels, std::vector<float>(total, 99.0f));

  VirtualClockBackend backend(VirtualClockBackend::Clock::Manual);
  StreamConfig sc;
  sc.period_frames = period;
  sc.input_channels = channels;
  sc.output_channels = channels;
  backend.open(sc);
  backend.set_input([&](float* const* in, std::uint32_t ch, std::uint32_t n, std::uint64_t first) {
    for (std::uint32_t c = 0; c < ch; ++c)
      for (std::uint32_t i = 0; i < n; ++i) in[c][i] = run.input[c][first + i];
  });
  backend.set_output(
      [&](const float* const* out, std::uint32_t ch, std::uint32_t n, std::uint64_t first) {
        for (std::uint32_t c = 0; c < ch; ++c)
          for (std::uint32_t i = 0; i < n; ++i) run.output[c][first + i] = out[c][i];
      });

  PassThroughNode node(block);
  PipelineConfig pc;
  pc.input_channels = channels;
  pc.output_channels = channels;
  pc.period_frames = period;
  pc.headroom_frames = headroom;
  RingPipeline pipeline(node, pc);
  run.latency = pipeline.latency_frames();
  pipeline.start();
  backend.start(pipeline);
  guard::reset();
  for (std::size_t p = 0; p < periods; ++p) {
    backend.run_periods(1);
    // Whole blocks available so far must be processed before the next period: the virtual
    // clock waits for the worker, which makes the run deterministic.
    wait_for_worker(pipeline, ((p + 1) * period / block) * block);
  }
  // The audio callback (backend + pipeline) allocated nothing and took no lock.
  EXPECT_TRUE(guard::installed());
  EXPECT_EQ(guard::violations(), 0u) << guard::first_violation_or_none();
  backend.stop();
  pipeline.stop();
  run.stats = pipeline.stats();
  return run;
}

void expect_delayed_copy(const PipelineRun& run) {
  const std::size_t total = run.input[0].size();
  ASSERT_LT(run.latency, total);
  for (std::size_t c = 0; c < run.input.size(); ++c) {
    for (std::size_t t = 0; t < run.latency; ++t)
      ASSERT_EQ(run.output[c][t], 0.0f) << "channel " << c << " frame " << t << " before latency";
    for (std::size_t t = run.latency; t < total; ++t)
      ASSERT_EQ(run.output[c][t], run.input[c][t - run.latency])
          << "channel " << c << " frame " << t;
  }
  EXPECT_EQ(run.stats.underflows, 0u);
  EXPECT_EQ(run.stats.overflows, 0u);
}

TEST(VirtualClockPipeline, PassThroughIsExactAndDelayedByReportedLatency) {
  const PipelineRun run = run_manual(2, 256, 256, 0, 200);
  EXPECT_EQ(run.latency, 512u);  // period + block
  expect_delayed_copy(run);
}

TEST(VirtualClockPipeline, BlockSizeUnrelatedToPeriod) {
  // 64-frame periods, 100-frame blocks, odd channel count, extra headroom.
  const PipelineRun run = run_manual(3, 64, 100, 37, 400);
  EXPECT_EQ(run.latency, 64u + 100u + 37u);
  expect_delayed_copy(run);
}

// Pass-through that can be made to stall, to force the worker to fall behind.
class StallingNode final : public BlockNode {
 public:
  explicit StallingNode(std::uint32_t block) : inner_(block) {}
  std::uint32_t block_frames() const override { return inner_.block_frames(); }
  void process(const float* in, std::uint32_t ci, float* out, std::uint32_t co,
               std::uint32_t frames) noexcept override {
    while (stall.load()) std::this_thread::sleep_for(std::chrono::microseconds(100));
    inner_.process(in, ci, out, co, frames);
  }
  std::atomic<bool> stall{false};

 private:
  PassThroughNode inner_;
};

TEST(VirtualClockPipeline, UnderflowPlaysSilenceThenRealignsToTheSameLatency) {
  const std::uint32_t period = 32, block = 32;
  const std::size_t periods = 300;
  VirtualClockBackend backend;
  StreamConfig sc;
  sc.period_frames = period;
  backend.open(sc);
  std::vector<float> out;
  out.reserve(periods * period);
  backend.set_input([&](float* const* in, std::uint32_t, std::uint32_t n, std::uint64_t first) {
    for (std::uint32_t i = 0; i < n; ++i) in[0][i] = static_cast<float>(first + i + 1);
  });
  backend.set_output([&](const float* const* o, std::uint32_t, std::uint32_t n, std::uint64_t) {
    out.insert(out.end(), o[0], o[0] + n);
  });
  StallingNode node(block);
  PipelineConfig pc;
  pc.period_frames = period;
  RingPipeline pipeline(node, pc);
  const std::uint32_t latency = pipeline.latency_frames();
  pipeline.start();
  backend.start(pipeline);
  for (std::size_t p = 0; p < periods; ++p) {
    if (p == 100) node.stall = true;   // the worker hangs for 20 periods...
    if (p == 120) node.stall = false;  // ...then catches up
    backend.run_periods(1);
    if (!node.stall) wait_for_worker(pipeline, (p + 1) * period);
  }
  backend.stop();
  pipeline.stop();
  const PipelineStats s = pipeline.stats();
  EXPECT_GT(s.underflows, 0u);
  EXPECT_GT(s.underflow_frames, 0u);
  EXPECT_EQ(s.overflows, 0u);
  // Every sample that is not a silent gap is the input delayed by exactly `latency`...
  std::size_t silent_after_latency = 0;
  for (std::size_t t = latency; t < out.size(); ++t) {
    if (out[t] == 0.0f) {
      ++silent_after_latency;
      continue;
    }
    ASSERT_EQ(out[t], static_cast<float>(t - latency + 1)) << "frame " << t;
  }
  EXPECT_EQ(silent_after_latency, s.underflow_frames);
  // ...and after the stall the stream is whole again.
  for (std::size_t t = 200 * period; t < out.size(); ++t)
    ASSERT_EQ(out[t], static_cast<float>(t - latency + 1)) << "frame " << t;
}

TEST(VirtualClockPipeline, MetersReportToneLevel) {
  VirtualClockBackend backend;
  StreamConfig sc;
  sc.period_frames = 128;
  sc.output_channels = 2;
  backend.open(sc);
  PassThroughNode node(128);
  PipelineConfig pc;
  pc.period_frames = 128;
  pc.output_channels = 2;
  RingPipeline pipeline(node, pc);
  ToneGenerator tone(1000.0, 48000.0, 0.5f);
  pipeline.set_input_generator(&tone);
  pipeline.start();
  backend.start(pipeline);
  for (int p = 0; p < 200; ++p) {
    backend.run_periods(1);
    wait_for_worker(pipeline, static_cast<std::uint64_t>(p + 1) * 128);
  }
  backend.stop();
  pipeline.stop();
  for (const ChannelLevel& level : pipeline.levels()) {
    EXPECT_NEAR(level.peak_dbfs, 20 * std::log10(0.5), 0.05);                  // -6.02 dBFS
    EXPECT_NEAR(level.rms_dbfs, 20 * std::log10(0.5 / std::sqrt(2.0)), 0.05);  // -9.03 dBFS
  }
}

TEST(VirtualClockBackend, RealTimeClockKeepsPace) {
  VirtualClockBackend backend(VirtualClockBackend::Clock::RealTime);
  StreamConfig sc;
  sc.sample_rate = 48000;
  sc.period_frames = 480;  // 10 ms
  backend.open(sc);
  backend.set_frame_limit(48000 / 4);  // 250 ms
  PassThroughNode node(480);
  PipelineConfig pc;
  pc.period_frames = 480;
  RingPipeline pipeline(node, pc);
  pipeline.start();
  guard::reset();
  const auto t0 = std::chrono::steady_clock::now();
  backend.start(pipeline);
  while (!backend.finished()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_EQ(guard::violations(), 0u) << guard::first_violation_or_none();
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  backend.stop();
  pipeline.stop();
  EXPECT_FALSE(backend.failed());
  EXPECT_EQ(backend.frames_elapsed(), 48000u / 4);
  // 25 periods of 10 ms: the last one starts at 240 ms.
  EXPECT_GT(elapsed, 0.23);
  EXPECT_LT(elapsed, 2.0);
}

TEST(VirtualClockBackend, RejectsBadConfig) {
  VirtualClockBackend backend;
  StreamConfig sc;
  sc.period_frames = 0;
  EXPECT_THROW(backend.open(sc), BackendError);
  sc.period_frames = 64;
  sc.sample_rate = -1;
  EXPECT_THROW(backend.open(sc), BackendError);
  PassThroughNode node(64);
  PipelineConfig pc;
  RingPipeline pipeline(node, pc);
  EXPECT_THROW(backend.start(pipeline), BackendError);  // never opened successfully
  EXPECT_THROW(backend.run_periods(1), BackendError);
}

}  // namespace
}  // namespace earshot::rt

namespace earshot::rt {
namespace {

// Negative control: the guard does see what a backend's callback does.
class AllocatingProcessor final : public AudioProcessor {
 public:
  void process(const float* const*, float* const* out, std::uint32_t frames) noexcept override {
    auto* leak_free = new std::vector<float>(frames);  // forbidden on the audio thread
    for (std::uint32_t i = 0; i < frames; ++i) out[0][i] = (*leak_free)[i];
    delete leak_free;
  }
};

TEST(VirtualClockBackend, GuardSeesAnAllocationInTheCallback) {
  VirtualClockBackend backend;
  backend.open(StreamConfig{});
  AllocatingProcessor processor;
  backend.start(processor);
  guard::reset();
  backend.run_periods(3);
  EXPECT_TRUE(guard::installed());
  EXPECT_GE(guard::violations(), 3u);
  backend.stop();
  guard::reset();
}

}  // namespace
}  // namespace earshot::rt
