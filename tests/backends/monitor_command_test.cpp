// `earshot monitor` and `earshot devices` run as a user runs them.
#include "rt/backends/audio_backend.hpp"
#include "tests/backends/jack_test_support.hpp"
#include "tests/backends/subprocess.hpp"
#include "tests/test_support.hpp"

#include <gtest/gtest.h>
#include <sndfile.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <numbers>
#include <random>
#include <regex>

namespace earshot::test {
namespace {

namespace fs = std::filesystem;

fs::path temp_dir() {
  fs::path dir =
      fs::temp_directory_path() / ("earshot_monitor_" + std::to_string(::getpid()) + "_" +
                                   ::testing::UnitTest::GetInstance()->current_test_info()->name());
  fs::create_directories(dir);
  return dir;
}

std::vector<std::string> monitor(std::vector<std::string> args) {
  args.insert(args.begin(), {earshot_binary(), "monitor"});
  return args;
}

std::vector<float> read_wav(const fs::path& path, SF_INFO& info) {
  info = {};
  SNDFILE* f = sf_open(path.c_str(), SFM_READ, &info);
  if (f == nullptr) return {};
  std::vector<float> data(static_cast<std::size_t>(info.frames * info.channels));
  sf_readf_float(f, data.data(), info.frames);
  sf_close(f);
  return data;
}

void expect_one_error_line(const Subprocess& p, const std::string& needle) {
  const std::string err = p.err();
  EXPECT_NE(err.find("earshot monitor: error: "), std::string::npos) << err;
  EXPECT_NE(err.find(needle), std::string::npos) << err;
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
}

TEST(MonitorCommand, ToneOnTheNullDeviceAtRealTimePace) {
  Subprocess p(monitor(
      {"--input", "tone", "--output", "null", "--seconds", "1", "--report-interval", "0.2"}));
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(p.wait(30), 0) << p.err();
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_GT(elapsed, 0.95);
  const std::string out = p.out();
  EXPECT_NE(out.find("backend null"), std::string::npos) << out;
  EXPECT_NE(out.find("latency: pipeline 768 frames (16.00 ms)"), std::string::npos) << out;
  // -12 dBFS sine: peak -12.0, RMS -15.0 dBFS, on both channels, in every meter line.
  const std::regex meter(R"(ch1 peak -12\.0 rms -15\.0 dBFS \| ch2 peak -12\.0 rms -15\.0 dBFS)");
  const auto lines =
      std::distance(std::sregex_iterator(out.begin(), out.end(), meter), std::sregex_iterator());
  EXPECT_GE(lines, 3) << out;
  EXPECT_NE(out.find("done: 1.00 s of audio"), std::string::npos) << out;
  EXPECT_TRUE(p.err().empty()) << p.err();
}

TEST(MonitorCommand, ToneIntoAFileIsExactlyTheToneAndExactlyAsLong) {
  const fs::path dir = temp_dir();
  const fs::path wav = dir / "tone.wav";
  Subprocess p(monitor({"--input", "tone", "--output", wav, "--seconds", "0.5", "--rate", "16000",
                        "--channels", "1", "--tone-hz", "1000", "--tone-dbfs", "-6", "--fast"}));
  ASSERT_EQ(p.wait(30), 0) << p.err();
  SF_INFO info;
  const std::vector<float> samples = read_wav(wav, info);
  ASSERT_EQ(info.frames, 8000);
  ASSERT_EQ(info.channels, 1);
  ASSERT_EQ(info.samplerate, 16000);
  const double amplitude = std::pow(10.0, -6.0 / 20.0);
  for (std::size_t i = 0; i < samples.size(); ++i) {
    const double expected = amplitude * std::sin(2 * std::numbers::pi * 1000.0 * i / 16000.0);
    ASSERT_NEAR(samples[i], expected, 1e-5) << "sample " << i;
  }
  fs::remove_all(dir);
}

TEST(MonitorCommand, FileThroughThePipelineIsUnchanged) {
  const fs::path dir = temp_dir();
  std::vector<float> input(3 * 10007);
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> dist(-1, 1);
  for (auto& x : input) x = dist(rng);
  SF_INFO info{};
  info.samplerate = 22050;
  info.channels = 3;
  info.format = SF_FORMAT_WAV | SF_FORMAT_FLOAT;
  SNDFILE* f = sf_open((dir / "in.wav").c_str(), SFM_WRITE, &info);
  ASSERT_NE(f, nullptr);
  sf_writef_float(f, input.data(), 10007);
  sf_close(f);
  Subprocess p(monitor({"--input", dir / "in.wav", "--output", dir / "out.flac", "--fast"}));
  ASSERT_EQ(p.wait(30), 0) << p.err();
  EXPECT_NE(p.out().find("22050 Hz"), std::string::npos) << p.out();
  const std::vector<float> out = read_wav(dir / "out.flac", info);
  EXPECT_EQ(info.samplerate, 22050);
  ASSERT_EQ(out.size(), input.size());
  // FLAC stores 24-bit integers; libsndfile scales by 0x7FFFFF writing and 1/0x800000 reading,
  // so a sample may move by up to two 24-bit steps (1.2e-7 each), never more.
  for (std::size_t i = 0; i < out.size(); ++i) ASSERT_NEAR(out[i], input[i], 2.0 / (1 << 23)) << i;
  fs::remove_all(dir);
}

TEST(MonitorCommand, BadInputIsOneClearLineAndNothingWritten) {
  const fs::path dir = temp_dir();
  std::ofstream(dir / "text.wav") << "not audio at all";
  {
    Subprocess p(monitor({"--input", dir / "text.wav", "--output", dir / "out.wav"}));
    EXPECT_EQ(p.wait(30), 1);
    expect_one_error_line(p, (dir / "text.wav").string());
  }
  {
    Subprocess p(monitor({"--input", dir / "missing.wav"}));
    EXPECT_EQ(p.wait(30), 1);
    expect_one_error_line(p, "missing.wav");
  }
  {
    Subprocess p(monitor({"--input", "tone", "--output", dir / "out.xyz", "--seconds", "1"}));
    EXPECT_EQ(p.wait(30), 1);
    expect_one_error_line(p, "unknown audio extension");
  }
  {
    Subprocess p(monitor({"--input", "mic", "--input-device", "no such microphone"}));
    EXPECT_EQ(p.wait(30), 1);
    expect_one_error_line(p, "no such microphone");
  }
  EXPECT_FALSE(fs::exists(dir / "out.wav"));
  EXPECT_FALSE(fs::exists(dir / "out.wav.partial"));
  EXPECT_FALSE(fs::exists(dir / "out.xyz"));
  fs::remove_all(dir);
}

TEST(MonitorCommand, NoJackServerIsOneClearLine) {
  ::setenv("JACK_DEFAULT_SERVER", "earshot-no-such-server", 1);
  Subprocess p(monitor({"--input", "jack", "--output", "jack", "--seconds", "1"}));
  EXPECT_EQ(p.wait(30), 1);
  expect_one_error_line(p, "no JACK server 'earshot-no-such-server' is running");
  Subprocess devices({earshot_binary(), "devices"});
  EXPECT_EQ(devices.wait(30), 0) << devices.err();
  EXPECT_NE(devices.out().find("no JACK server is running"), std::string::npos) << devices.out();
}

// Waits until earshot's JACK ports exist and its stdout reports the pipeline latency.
std::uint32_t wait_for_earshot(Subprocess& p, jack_client_t* observer) {
  EXPECT_TRUE(
      wait_for([&] { return jack_port_by_name(observer, "earshot:out_1") != nullptr; }, 20.0))
      << "earshot's ports never appeared: " << p.err();
  std::smatch m;
  std::string out;
  const std::regex latency(R"(latency: pipeline (\d+) frames)");
  EXPECT_TRUE(wait_for(
      [&] {
        out = p.out();
        return std::regex_search(out, m, latency);
      },
      20.0))
      << out;
  return m.empty() ? 0 : static_cast<std::uint32_t>(std::stoul(m[1]));
}

TEST(MonitorCommand, JackEndToEndSignalArrivesUnchangedWithTheReportedLatency) {
  JackServer server(48000, 256);
  ASSERT_TRUE(server.ready()) << "jackd did not start; see " << server.log_path();
  Subprocess earshot(
      monitor({"--input", "jack", "--output", "jack", "--channels", "1", "--no-autoconnect",
               "--headroom", "8192", "--seconds", "60", "--report-interval", "0.25"}));
  const std::vector<float> signal = [] {
    std::mt19937 rng(17);
    std::uniform_real_distribution<float> dist(-0.9f, 0.9f);
    std::vector<float> v(48000);
    for (auto& x : v) x = dist(rng);
    return v;
  }();
  TestJackClient player("player", TestJackClient::Role::Player, signal);
  TestJackClient recorder("recorder", TestJackClient::Role::Recorder, {}, 48000 * 3);
  ASSERT_TRUE(player.ok() && recorder.ok());
  const std::uint32_t latency = wait_for_earshot(earshot, recorder.client());
  ASSERT_EQ(latency, 256u + 256u + 8192u);  // period + block + headroom
  ASSERT_EQ(jack_connect(player.client(), player.port_name().c_str(), "earshot:in_1"), 0);
  ASSERT_EQ(jack_connect(recorder.client(), "earshot:out_1", recorder.port_name().c_str()), 0);

  // The latency earshot reports is the one it publishes on its ports.
  jack_port_t* out_port = jack_port_by_name(recorder.client(), "earshot:out_1");
  EXPECT_TRUE(wait_for(
      [&] {
        jack_latency_range_t r{};
        jack_port_get_latency_range(out_port, JackCaptureLatency, &r);
        return r.min == latency && r.max == latency;
      },
      5.0));
  EXPECT_TRUE(wait_for(
      [&] {
        jack_latency_range_t r{};
        jack_port_get_latency_range(recorder.port(), JackCaptureLatency, &r);
        return r.max == latency;
      },
      5.0))
      << "the recorder's input does not see earshot's latency";

  recorder.arm();
  ASSERT_TRUE(wait_for([&] { return recorder.started(); }, 5.0));
  player.arm();
  ASSERT_TRUE(wait_for([&] { return recorder.done(); }, 30.0));

  earshot.signal(SIGINT);
  ASSERT_EQ(earshot.wait(20), 0) << earshot.err();
  const std::string out = earshot.out();
  EXPECT_NE(out.find("backend jack, 48000 Hz, period 256"), std::string::npos) << out;
  EXPECT_NE(out.find("done:"), std::string::npos) << out;

  const std::int64_t offset = static_cast<std::int64_t>(player.start_frame()) + latency -
                              static_cast<std::int64_t>(recorder.start_frame());
  const std::vector<float>& rec = recorder.recording();
  ASSERT_GE(offset, 0);
  ASSERT_LE(offset + signal.size(), rec.size());
  for (std::int64_t i = 0; i < offset; ++i) ASSERT_EQ(rec[i], 0.0f) << "early sample " << i;
  for (std::size_t i = 0; i < signal.size(); ++i)
    ASSERT_EQ(rec[offset + i], signal[i]) << "sample " << i;
  for (std::size_t i = offset + signal.size(); i < rec.size(); ++i)
    ASSERT_EQ(rec[i], 0.0f) << "late sample " << i;
}

TEST(MonitorCommand, JackServerKilledMidRunEndsWithOneClearLine) {
  JackServer server(48000, 256);
  ASSERT_TRUE(server.ready()) << "jackd did not start; see " << server.log_path();
  Subprocess earshot(monitor(
      {"--input", "jack", "--output", "jack", "--seconds", "60", "--report-interval", "0.1"}));
  TestJackClient observer("observer", TestJackClient::Role::Recorder, {}, 16);
  ASSERT_TRUE(observer.ok());
  wait_for_earshot(earshot, observer.client());
  ASSERT_TRUE(wait_for([&] { return earshot.out().find("xruns") != std::string::npos; }, 20.0))
      << "no meter line: " << earshot.out();
  server.kill(SIGKILL);
  ASSERT_EQ(earshot.wait(20), 1) << "earshot hung or crashed; stderr: " << earshot.err();
  expect_one_error_line(earshot, "the JACK server shut down");
}

TEST(MonitorCommand, FileIntoJackPlaysToTheEndAndStops) {
  JackServer server(48000, 256);
  ASSERT_TRUE(server.ready()) << "jackd did not start; see " << server.log_path();
  const fs::path dir = temp_dir();
  std::vector<float> sine(48000);  // one second, 1 kHz at -6 dBFS, mono
  for (std::size_t i = 0; i < sine.size(); ++i)
    sine[i] = static_cast<float>(0.5 * std::sin(2 * std::numbers::pi * 1000.0 * i / 48000.0));
  SF_INFO info{};
  info.samplerate = 48000;
  info.channels = 1;
  info.format = SF_FORMAT_WAV | SF_FORMAT_FLOAT;
  SNDFILE* f = sf_open((dir / "sine.wav").c_str(), SFM_WRITE, &info);
  ASSERT_NE(f, nullptr);
  sf_writef_float(f, sine.data(), static_cast<sf_count_t>(sine.size()));
  sf_close(f);
  const auto t0 = std::chrono::steady_clock::now();
  Subprocess earshot(monitor({"--input", dir / "sine.wav", "--output", "jack", "--channels", "2",
                              "--report-interval", "0.1"}));
  ASSERT_EQ(earshot.wait(30), 0) << earshot.err();
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_GT(elapsed, 0.9);
  const std::string out = earshot.out();
  EXPECT_NE(out.find("backend jack"), std::string::npos) << out;
  // The mono file feeds both channels at its level: peak -6.0, RMS -9.0 dBFS.
  EXPECT_NE(out.find("ch1 peak  -6.0 rms  -9.0 dBFS | ch2 peak  -6.0 rms  -9.0 dBFS"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("done: "), std::string::npos) << out;
  fs::remove_all(dir);
}

TEST(DevicesCommand, ListsJackPortsOfARunningServer) {
  JackServer server(48000, 256);
  ASSERT_TRUE(server.ready()) << "jackd did not start; see " << server.log_path();
  Subprocess devices({earshot_binary(), "devices"});
  ASSERT_EQ(devices.wait(30), 0) << devices.err();
  const std::string out = devices.out();
  EXPECT_NE(out.find("system:capture_1  (audio, output, physical)"), std::string::npos) << out;
  EXPECT_NE(out.find("system:playback_1  (audio, input, physical)"), std::string::npos) << out;
  EXPECT_NE(out.find("JACK"), std::string::npos) << out;  // PortAudio's JACK host API devices
}

}  // namespace
}  // namespace earshot::test
