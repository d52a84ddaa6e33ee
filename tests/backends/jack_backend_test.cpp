// The JACK backend against a real JACK server (jackd -d dummy, started by the test).
#include "rt/backends/jack_backend.hpp"
#include "rt/audio_thread_guard.hpp"
#include "rt/backends/ring_pipeline.hpp"
#include "tests/backends/jack_test_support.hpp"

#include <gtest/gtest.h>

#include <random>

namespace earshot::rt {
namespace {

using test::JackServer;
using test::TestJackClient;
using test::wait_for;

std::vector<float> noise(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-0.9f, 0.9f);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

TEST(JackBackend, NoServerIsOneClearError) {
  ::setenv("JACK_DEFAULT_SERVER", "earshot-no-such-server", 1);
  JackBackend backend;
  try {
    backend.open(StreamConfig{});
    FAIL() << "opened a client without a server";
  } catch (const BackendError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("no JACK server 'earshot-no-such-server' is running"), std::string::npos)
        << what;
    EXPECT_EQ(what.find('\n'), std::string::npos);
  }
  EXPECT_FALSE(jack_server_running());
}

TEST(JackBackend, SignalPassesUnchangedDelayedByTheReportedLatency) {
  JackServer server(48000, 256);
  ASSERT_TRUE(server.ready()) << "jackd did not start; see " << server.log_path();

  JackBackend backend;
  StreamConfig sc;
  sc.client_name = "earshot";
  backend.open(sc);
  EXPECT_EQ(backend.sample_rate(), 48000.0);
  EXPECT_EQ(backend.period_frames(), 256u);

  PassThroughNode node(256);
  PipelineConfig pc;
  pc.period_frames = backend.period_frames();
  pc.sample_rate = backend.sample_rate();
  // Slack for a loaded CI machine (non-real-time jackd, sanitizers): 170 ms.
  pc.headroom_frames = 8192;
  RingPipeline pipeline(node, pc);
  const std::uint32_t latency = pipeline.latency_frames();
  backend.set_processing_latency(latency);
  pipeline.start();
  backend.start(pipeline);

  const std::vector<float> signal = noise(48000, 11);  // one second
  TestJackClient player("player", TestJackClient::Role::Player, signal);
  TestJackClient recorder("recorder", TestJackClient::Role::Recorder, {}, 48000 * 3);
  ASSERT_TRUE(player.ok() && recorder.ok());
  ASSERT_EQ(jack_connect(player.client(), player.port_name().c_str(), "earshot:in_1"), 0);
  ASSERT_EQ(jack_connect(recorder.client(), "earshot:out_1", recorder.port_name().c_str()), 0);

  // Our published latency: capture latency of earshot:out_1 = 0 (player) + ours.
  jack_port_t* out_port = jack_port_by_name(recorder.client(), "earshot:out_1");
  jack_port_t* in_port = jack_port_by_name(recorder.client(), "earshot:in_1");
  ASSERT_NE(out_port, nullptr);
  EXPECT_TRUE(wait_for(
      [&] {
        jack_latency_range_t r{};
        jack_port_get_latency_range(out_port, JackCaptureLatency, &r);
        return r.min == latency && r.max == latency;
      },
      5.0))
      << "earshot:out_1 does not publish the pipeline latency " << latency;
  jack_latency_range_t playback{};
  jack_port_get_latency_range(in_port, JackPlaybackLatency, &playback);
  EXPECT_EQ(playback.max, latency);

  guard::reset();
  recorder.arm();
  ASSERT_TRUE(wait_for([&] { return recorder.started(); }, 5.0));
  const std::uint64_t underflows_before = pipeline.stats().underflows;
  player.arm();
  ASSERT_TRUE(wait_for([&] { return recorder.done(); }, 20.0)) << "recording never finished";
  // Hundreds of JACK callbacks: no allocation, no lock.
  EXPECT_TRUE(guard::installed());
  EXPECT_EQ(guard::violations(), 0u) << guard::first_violation_or_none();
  backend.stop();
  pipeline.stop();

  ASSERT_TRUE(player.started());
  const std::int64_t offset = static_cast<std::int64_t>(player.start_frame()) + latency -
                              static_cast<std::int64_t>(recorder.start_frame());
  ASSERT_GE(offset, 0);
  const std::vector<float>& rec = recorder.recording();
  ASSERT_LE(offset + signal.size(), rec.size());
  // No underflow while the signal went through (the comparison below would catch one anyway).
  EXPECT_EQ(pipeline.stats().underflows, underflows_before);
  for (std::int64_t i = 0; i < offset; ++i) ASSERT_EQ(rec[i], 0.0f) << "early sample " << i;
  for (std::size_t i = 0; i < signal.size(); ++i)
    ASSERT_EQ(rec[offset + i], signal[i]) << "sample " << i << " (delay " << latency << ")";
  for (std::size_t i = offset + signal.size(); i < rec.size(); ++i)
    ASSERT_EQ(rec[i], 0.0f) << "late sample " << i;
}

TEST(JackBackend, ServerShutdownMidRunIsReportedNotACrash) {
  for (int sig : {SIGTERM, SIGKILL}) {
    JackServer server(48000, 256);
    ASSERT_TRUE(server.ready()) << "jackd did not start; see " << server.log_path();
    JackBackend backend;
    StreamConfig sc;
    sc.input_channels = 2;
    sc.output_channels = 2;
    backend.open(sc);
    PassThroughNode node(256);
    PipelineConfig pc;
    pc.input_channels = pc.output_channels = 2;
    pc.period_frames = backend.period_frames();
    RingPipeline pipeline(node, pc);
    pipeline.start();
    backend.start(pipeline);
    ASSERT_TRUE(wait_for([&] { return pipeline.stats().callbacks > 10; }, 5.0));
    server.kill(sig);
    ASSERT_TRUE(wait_for([&] { return backend.finished(); }, 10.0))
        << "no shutdown notice after signal " << sig;
    EXPECT_TRUE(backend.failed());
    EXPECT_NE(backend.finish_message().find("JACK server shut down"), std::string::npos)
        << backend.finish_message();
    const auto t0 = std::chrono::steady_clock::now();
    backend.close();  // must not hang on a dead server
    pipeline.stop();
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
  }
}

}  // namespace
}  // namespace earshot::rt
