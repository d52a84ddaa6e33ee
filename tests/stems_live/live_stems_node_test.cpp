// The live stems node against a private `jackd -d dummy -r 44100` server with the small4
// fixture model: a player client plays the fixture mix into in_L/in_R at a known JACK frame, a
// recorder client records every <source>_L/R output, and the recording must equal the offline
// separation (the library, in this test) of exactly what the node received, delayed by exactly
// the latency the node reports through JACK (README tolerance: rel L2 <= 1e-4, max-abs <= 1e-4).
//
// Edge chunks: the node's stream starts at its first cycle (stream frame 0, chunk 0 at offset 0,
// as offline) and never ends, so every live chunk is a full segment. The offline separation of
// a finite signal ends with a short chunk padded with context (TensorChunk.padded), which the
// live stream never has. So the offline reference is computed over the received input plus a
// tail of silence long enough that the mix is covered only by full chunks, and frames from the
// first non-full offline chunk on are left out of the comparison.
#include "nodes/stems/live_stems_node.hpp"
#include "dsp/resampler.hpp"
#include "rt/audio_thread_guard.hpp"
#include "rt/backends/audio_backend.hpp"
#include "tests/stems_live/frame_clients.hpp"
#include "tests/stems_live/stems_test_util.hpp"

#include <gtest/gtest.h>

#include <future>

namespace earshot::stems {
namespace {

using test::FramePlayer;
using test::FrameRecorder;

constexpr int kRate = 44100;

// Plays the fixture mix into the node on a server at `rate` and compares the recording with
// the offline separation delayed by the reported latency. At another rate than the model's, the
// mix is played resampled to `rate`, and the reference is the node's input resampled whole to
// the model's rate, separated offline, and the stems resampled whole back (dsp::resample): the
// node does the same as streams, which differ from whole-signal resampling only by rounding, so
// the README tolerance still applies.
void check_live_against_offline(int rate) {
  test::JackServer server(rate, 256);
  ASSERT_TRUE(server.ready()) << "jackd did not start; log: " << server.log_path();
  rt::MemoryBudget budget(256u << 20);
  htdemucs::ModelBag bag = htdemucs::ModelBag::load(test::small4_dir(), budget);
  const int S = bag.num_sources();

  LiveStemsOptions options;
  options.margin_seconds = 1.0;  // room for a slow sanitizer build on a shared machine
  LiveStemsNode node(bag, options, budget);
  const std::int64_t L = node.segment(), stride = node.stride(), D = node.latency_frames();
  EXPECT_EQ(L, 42997);
  EXPECT_EQ(stride, 32247);
  EXPECT_EQ(node.rate(), rate);
  EXPECT_EQ(node.resampling(), rate != kRate);
  if (rate == kRate) {
    EXPECT_EQ(D, L + stride + kRate);
  } else {
    // The pipeline at the server's rate, plus what the resamplers hold back (a few hundred
    // frames at SOXR_HQ), plus the margin.
    EXPECT_EQ(D, ((L + stride) * rate + kRate - 1) / kRate + node.resampler_delay() + rate);
    EXPECT_GT(node.resampler_delay(), 0);
    EXPECT_LT(node.resampler_delay(), rate / 10);
    std::printf("at %d Hz: resamplers hold back %lld frames; latency %lld frames\n", rate,
                static_cast<long long>(node.resampler_delay()), static_cast<long long>(D));
  }

  auto mix = test::small4_mix();
  if (rate != kRate) {
    std::vector<float> inter(mix[0].size() * 2);
    for (std::size_t t = 0; t < mix[0].size(); ++t)
      for (int c = 0; c < 2; ++c) inter[t * 2 + c] = mix[c][t];
    const auto at_rate = dsp::resample(inter, 2, kRate, rate);
    for (int c = 0; c < 2; ++c) {
      mix[c].resize(at_rate.size() / 2);
      for (std::size_t t = 0; t < mix[c].size(); ++t) mix[c][t] = at_rate[t * 2 + c];
    }
  }
  const auto T = static_cast<std::int64_t>(mix[0].size());
  FramePlayer player("stems-player", mix);
  const std::size_t record_frames = static_cast<std::size_t>(D + T + 4096);
  FrameRecorder recorder("stems-recorder", 2 * S, record_frames);
  ASSERT_TRUE(player.ok() && recorder.ok());

  rt::guard::reset();
  node.start();
  player.activate();
  recorder.activate();
  const auto in_ports = node.client().input_port_names();
  const auto out_ports = node.client().output_port_names();
  ASSERT_EQ(out_ports.size(), static_cast<std::size_t>(2 * S));
  EXPECT_EQ(out_ports[0], node.client().client_name() + ":drums_L");
  EXPECT_EQ(out_ports[7], node.client().client_name() + ":vocals_R");
  for (int c = 0; c < 2; ++c) ASSERT_TRUE(player.connect(c, in_ports[c]));
  for (int i = 0; i < 2 * S; ++i) ASSERT_TRUE(recorder.connect(i, out_ports[i]));

  // The latency JACK reports: capture latency of a stem output minus that of in_L.
  jack_latency_range_t in_range{}, out_range{};
  ASSERT_TRUE(test::wait_for(
      [&] {
        jack_port_get_latency_range(jack_port_by_name(recorder.client(), in_ports[0].c_str()),
                                    JackCaptureLatency, &in_range);
        jack_port_get_latency_range(jack_port_by_name(recorder.client(), out_ports[3].c_str()),
                                    JackCaptureLatency, &out_range);
        return out_range.max - in_range.max == static_cast<jack_nframes_t>(D);
      },
      5.0))
      << "reported " << out_range.max - in_range.max << ", expected " << D;

  ASSERT_TRUE(test::wait_for([&] { return node.started(); }, 10.0));
  // Start the mix at a frame every client agrees on, a few periods from now.
  const jack_nframes_t start = player.now() + 4096;
  player.play_at(start);
  recorder.record_at(start);
  ASSERT_TRUE(test::wait_for([&] { return recorder.done(); }, 60.0)) << recorder.recorded();
  node.stop();
  EXPECT_TRUE(rt::guard::installed());
  EXPECT_EQ(rt::guard::violations(), 0u) << rt::guard::first_violation_or_none();
  EXPECT_EQ(node.late_frames(), 0u) << "the worker fell behind";
  EXPECT_EQ(node.dropped_input_frames(), 0u);
  node.rethrow_if_failed();

  // What the node received: silence, the mix from stream frame `pre`, then silence.
  const std::int64_t pre = test::frame_diff(start, node.origin_frame());
  ASSERT_GE(pre, 0);
  const std::int64_t N = pre + T + 2 * L * rate / kRate + 2 * rate / 10;
  std::vector<std::vector<float>> x(2, std::vector<float>(static_cast<std::size_t>(N), 0.0f));
  for (int c = 0; c < 2; ++c) std::copy(mix[c].begin(), mix[c].end(), x[c].begin() + pre);
  std::vector<std::vector<float>> offline;
  std::int64_t usable = 0;  // stem frames (at `rate`) before the first non-full offline chunk
  if (rate == kRate) {
    offline = test::separate_offline(bag, x, budget);
    std::int64_t first_short = 0;  // offset of the first chunk that is not a full segment
    while (first_short + L <= N) first_short += stride;
    ASSERT_GE(first_short, pre + T) << "the mix must be covered by full chunks only";
    usable = first_short;
  } else {
    auto to_planar = [](const std::vector<float>& inter, int channels) {
      std::vector<std::vector<float>> p(channels, std::vector<float>(inter.size() / channels));
      for (std::size_t t = 0; t < p[0].size(); ++t)
        for (int c = 0; c < channels; ++c) p[c][t] = inter[t * channels + c];
      return p;
    };
    std::vector<float> inter(static_cast<std::size_t>(N) * 2);
    for (std::int64_t t = 0; t < N; ++t)
      for (int c = 0; c < 2; ++c) inter[t * 2 + c] = x[c][t];
    const auto x44 = to_planar(dsp::resample(inter, 2, rate, kRate), 2);
    const auto N44 = static_cast<std::int64_t>(x44[0].size());
    const auto stems44 = test::separate_offline(bag, x44, budget);
    std::vector<float> stems_inter(static_cast<std::size_t>(N44) * 2 * S);
    for (std::int64_t t = 0; t < N44; ++t)
      for (int k = 0; k < 2 * S; ++k) stems_inter[t * 2 * S + k] = stems44[k][t];
    offline = to_planar(dsp::resample(stems_inter, 2 * S, kRate, rate), 2 * S);
    std::int64_t first_short = 0;
    while (first_short + L <= N44) first_short += stride;
    // Stop a resampler filter's length (generously 0.1 s) before that chunk.
    usable = first_short * rate / kRate - rate / 10;
    ASSERT_GE(usable, pre + T) << "the mix must be covered by full chunks only";
  }

  // Recorded frame j is node output frame pre + j, i.e. stem frame pre + j - D.
  auto compare_at = [&](std::int64_t delay) {
    test::ErrorAccumulator acc;
    for (std::int64_t j = 0; j < static_cast<std::int64_t>(record_frames); ++j) {
      const std::int64_t n = pre + j - delay;
      for (int k = 0; k < 2 * S; ++k) {
        const float got = recorder.recording()[k][j];
        if (n < 0) {
          acc.add(got, 0.0f);  // the primed silence
        } else if (n < usable) {
          acc.add(got, offline[k][n]);
        }
      }
    }
    return acc;
  };
  const test::ErrorAccumulator exact = compare_at(D);
  const test::Error e = exact.error();
  EXPECT_GE(exact.count, static_cast<std::size_t>(T * 2 * S));
  EXPECT_LE(e.rel_l2, 1e-4);
  EXPECT_LE(e.max_abs, 1e-4);
  std::printf(
      "at %d Hz: live vs offline at D = %lld frames: rel L2 %.3g, max-abs %.3g over %zu "
      "samples\n",
      rate, static_cast<long long>(D), e.rel_l2, e.max_abs, exact.count);
  // One frame off is far outside the tolerance: the delay is exact, not approximately right.
  EXPECT_GT(compare_at(D + 1).error().rel_l2, 1e-2);
  EXPECT_GT(compare_at(D - 1).error().rel_l2, 1e-2);
}

TEST(LiveStemsNode, StemsEqualOfflineSeparationDelayedByTheReportedLatency) {
  check_live_against_offline(kRate);
}

// `jackd -d dummy -r 48000`: resampled in and out; the resamplers' delay is part of the latency.
TEST(LiveStemsNode, At48kHzResamplesAndReportsTheResamplerDelay) {
  check_live_against_offline(48000);
}

TEST(LiveStemsNode, ServerKilledMidRunGivesAClearMessageAndNoHang) {
  auto server = std::make_unique<test::JackServer>(kRate, 256);
  ASSERT_TRUE(server->ready());
  rt::MemoryBudget budget(256u << 20);
  htdemucs::ModelBag bag = htdemucs::ModelBag::load(test::small4_dir(), budget);
  LiveStemsNode node(bag, {}, budget);
  node.start();
  ASSERT_TRUE(test::wait_for([&] { return node.started(); }, 10.0));
  server->kill(SIGKILL);
  EXPECT_TRUE(test::wait_for([&] { return node.server_gone(); }, 10.0));
  EXPECT_NE(node.shutdown_message().find("JACK server shut down"), std::string::npos)
      << node.shutdown_message();
  auto stopped = std::async(std::launch::async, [&] { node.stop(); });
  EXPECT_EQ(stopped.wait_for(std::chrono::seconds(10)), std::future_status::ready);
}

TEST(LiveStemsNode, NoServerIsAClearError) {
  ::setenv("JACK_DEFAULT_SERVER", "earshot-no-such-server", 1);
  rt::MemoryBudget budget(256u << 20);
  htdemucs::ModelBag bag = htdemucs::ModelBag::load(test::small4_dir(), budget);
  try {
    LiveStemsNode node(bag, {}, budget);
    FAIL() << "no server, but the node opened";
  } catch (const rt::BackendError& e) {
    EXPECT_NE(std::string(e.what()).find("JACK server"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace earshot::stems
