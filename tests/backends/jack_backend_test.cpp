// The JACK backend against a real JACK server (jackd -d dummy, started by the test).
#include "rt/backends/jack_backend.hpp"
#include "rt/audio_thread_guard.hpp"
#include "rt/backends/ring_pipeline.hpp"
#include "tests/backends/jack_test_support.hpp"

#include <gtest/gtest.h>

#include <algorithm>
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

// What the stems deck and live stems need from the backend: ports named one by one, the
// transport read in the callback, the cycle's frame time, and slow sync (a start or locate
// waits until the client says it is ready to play from the new position).
class TransportProbe final : public AudioProcessor, public JackTransportSync {
 public:
  explicit TransportProbe(const JackBackend& backend) : backend_(backend) {}
  void process(const float* const*, float* const* out, std::uint32_t frames) noexcept override {
    const jack_nframes_t start = backend_.cycle_start_frame();
    if (cycles_.load() > 0 && start - last_start_ != frames) frame_time_gaps_.fetch_add(1);
    last_start_ = start;
    jack_position_t pos{};
    const jack_transport_state_t state = backend_.query_transport(&pos);
    if (state == JackTransportStarting) starting_cycles_.fetch_add(1);
    if (state == JackTransportRolling) rolling_from_.store(static_cast<std::int64_t>(pos.frame));
    for (float* o : {out[0], out[1]}) std::fill(o, o + frames, 0.0f);
    cycles_.fetch_add(1);
  }
  int ready_to_roll(jack_transport_state_t, jack_position_t* pos) noexcept override {
    asked_frame_.store(static_cast<std::int64_t>(pos->frame));
    return ready_.load() ? 1 : 0;
  }

  const JackBackend& backend_;
  jack_nframes_t last_start_ = 0;
  std::atomic<bool> ready_{false};
  std::atomic<std::int64_t> asked_frame_{-1}, rolling_from_{-1};
  std::atomic<std::uint64_t> cycles_{0}, starting_cycles_{0}, frame_time_gaps_{0};
};

TEST(JackBackend, NamedPortsTransportQueriesAndSlowSync) {
  JackServer server(48000, 256);
  ASSERT_TRUE(server.ready()) << "jackd did not start; see " << server.log_path();
  StreamConfig sc;
  sc.client_name = "earshot-named";
  sc.input_channels = sc.output_channels = 2;
  sc.input_port_names = {"in_L", "in_R"};
  sc.output_port_names = {"vocals_L", "vocals_R"};
  {
    StreamConfig wrong = sc;
    wrong.output_port_names = {"mono"};
    JackBackend bad;
    EXPECT_THROW(bad.open(wrong), BackendError) << "one name for two channels";
  }
  JackBackend backend;
  backend.open(sc);
  EXPECT_EQ(backend.input_port_names(),
            (std::vector<std::string>{"earshot-named:in_L", "earshot-named:in_R"}));
  EXPECT_EQ(backend.output_port_names(),
            (std::vector<std::string>{"earshot-named:vocals_L", "earshot-named:vocals_R"}));

  TransportProbe probe(backend);
  backend.set_transport_sync(probe);
  guard::reset();
  backend.start(probe);
  TestJackClient driver("transport", TestJackClient::Role::Recorder, {}, 0);
  ASSERT_TRUE(driver.ok());
  jack_transport_locate(driver.client(), 48000);
  jack_transport_start(driver.client());
  // Not ready: JACK holds the transport in Starting at the located frame, cycle after cycle.
  ASSERT_TRUE(wait_for([&] { return probe.starting_cycles_.load() > 20; }, 10.0))
      << "the transport never waited for us";
  EXPECT_EQ(probe.asked_frame_.load(), 48000);
  EXPECT_EQ(probe.rolling_from_.load(), -1) << "rolled before we were ready";
  probe.ready_.store(true);
  ASSERT_TRUE(wait_for([&] { return probe.rolling_from_.load() >= 48000; }, 10.0))
      << "the transport did not roll once we were ready";
  jack_transport_stop(driver.client());
  EXPECT_GT(probe.cycles_.load(), 20u);
  EXPECT_EQ(probe.frame_time_gaps_.load(), 0u) << "cycle start frames must advance by a period";
  EXPECT_EQ(guard::violations(), 0u) << guard::first_violation_or_none();
  backend.stop();
}

}  // namespace
}  // namespace earshot::rt
