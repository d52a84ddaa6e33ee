// A node at its own rate (16 kHz) behind a device at 48/44.1 kHz: the signal survives the two
// conversions and arrives delayed by exactly the latency the pipeline reports.
#include "rt/backends/resampling_node.hpp"
#include "rt/audio_thread_guard.hpp"
#include "rt/backends/virtual_clock_backend.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <numbers>
#include <thread>

namespace earshot::rt {
namespace {

struct Case {
  double device_rate, node_rate;
  std::uint32_t period, node_block;
};

class ResamplingNodeTest : public ::testing::TestWithParam<Case> {};

TEST_P(ResamplingNodeTest, SineArrivesDelayedByTheReportedLatency) {
  const Case c = GetParam();
  const double f = 1000.0, amplitude = 0.5;
  const std::size_t periods = static_cast<std::size_t>(1.5 * c.device_rate / c.period);
  const std::size_t total = periods * c.period;
  auto input = [&](std::uint64_t t) {
    return static_cast<float>(amplitude * std::sin(2 * std::numbers::pi * f * t / c.device_rate));
  };
  std::vector<float> output(total, 0.0f);

  VirtualClockBackend backend;
  StreamConfig sc;
  sc.sample_rate = c.device_rate;
  sc.period_frames = c.period;
  backend.open(sc);
  backend.set_input([&](float* const* in, std::uint32_t, std::uint32_t n, std::uint64_t first) {
    for (std::uint32_t i = 0; i < n; ++i) in[0][i] = input(first + i);
  });
  backend.set_output(
      [&](const float* const* o, std::uint32_t, std::uint32_t n, std::uint64_t first) {
        std::copy(o[0], o[0] + n, output.begin() + static_cast<std::ptrdiff_t>(first));
      });
  PassThroughNode inner(c.node_block);
  ResamplingNode node(inner, c.device_rate, c.node_rate, 1, 1, c.period);
  PipelineConfig pc;
  pc.sample_rate = c.device_rate;
  pc.period_frames = c.period;
  RingPipeline pipeline(node, pc);
  const std::uint32_t latency = pipeline.latency_frames();
  EXPECT_GT(node.latency_frames(), 0u);  // the resamplers' look-ahead is part of it
  // soxr HQ buffers more for irrational ratios: 44.1k -> 16k measures ~110 ms, 48k -> 16k less.
  EXPECT_LT(node.latency_frames(), 0.15 * c.device_rate);
  pipeline.start();
  backend.start(pipeline);
  for (std::size_t p = 0; p < periods; ++p) {
    backend.run_periods(1);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (pipeline.frames_processed() < (p + 1) * c.period &&
           std::chrono::steady_clock::now() < deadline)
      std::this_thread::yield();
  }
  backend.stop();
  pipeline.stop();
  EXPECT_EQ(pipeline.stats().underflows, 0u);
  EXPECT_EQ(node.shortfalls(), 0u);

  // Silence until the latency, then the sine (after the filters' 20 ms onset transient).
  for (std::size_t t = 0; t < std::min<std::size_t>(latency / 2, total); ++t)
    ASSERT_EQ(output[t], 0.0f) << t;
  const std::size_t settle = latency + static_cast<std::size_t>(0.02 * c.device_rate);
  double max_error = 0;
  for (std::size_t t = settle; t < total; ++t)
    max_error = std::max(max_error, std::abs(static_cast<double>(output[t]) - input(t - latency)));
  EXPECT_LT(max_error, 2e-3) << "latency " << latency;
  // One frame off would be far worse: the test can tell.
  double off_by_one = 0;
  for (std::size_t t = settle; t < total; ++t)
    off_by_one =
        std::max(off_by_one, std::abs(static_cast<double>(output[t] - input(t - latency - 1))));
  EXPECT_GT(off_by_one, 0.05);
}

INSTANTIATE_TEST_SUITE_P(Rates, ResamplingNodeTest,
                         ::testing::Values(Case{48000, 16000, 256, 400},
                                           Case{44100, 16000, 128, 320},
                                           Case{16000, 48000, 160, 1024}));

}  // namespace
}  // namespace earshot::rt
