// File backend: a file through the pipeline comes out identical; other rates are resampled;
// bad files are one clear error.
#include "rt/backends/file_backend.hpp"
#include "rt/audio_thread_guard.hpp"
#include "rt/backends/audio_file.hpp"
#include "rt/backends/ring_pipeline.hpp"

#include <gtest/gtest.h>
#include <sndfile.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <numbers>
#include <random>
#include <thread>

namespace earshot::rt {
namespace {

namespace fs = std::filesystem;

fs::path temp_dir() {
  fs::path dir =
      fs::temp_directory_path() / ("earshot_file_backend_" + std::to_string(::getpid()) + "_" +
                                   ::testing::UnitTest::GetInstance()->current_test_info()->name());
  fs::create_directories(dir);
  return dir;
}

void write_wav(const fs::path& path, const std::vector<float>& interleaved, int channels, int rate,
               int subtype = SF_FORMAT_FLOAT) {
  SF_INFO info{};
  info.samplerate = rate;
  info.channels = channels;
  info.format = SF_FORMAT_WAV | subtype;
  SNDFILE* f = sf_open(path.c_str(), SFM_WRITE, &info);
  ASSERT_NE(f, nullptr) << sf_strerror(nullptr);
  sf_writef_float(f, interleaved.data(), static_cast<sf_count_t>(interleaved.size() / channels));
  sf_close(f);
}

std::vector<float> read_all(const fs::path& path, SF_INFO& info) {
  info = {};
  SNDFILE* f = sf_open(path.c_str(), SFM_READ, &info);
  EXPECT_NE(f, nullptr) << path << ": " << sf_strerror(nullptr);
  if (f == nullptr) return {};
  std::vector<float> data(static_cast<std::size_t>(info.frames * info.channels));
  sf_readf_float(f, data.data(), info.frames);
  sf_close(f);
  return data;
}

void run_to_end(FileBackend& backend, RingPipeline& pipeline) {
  // Flat out, the file backend waits for the pipeline's worker between periods
  // (wait_until_caught_up), so no block is ever late and the result is exact.
  pipeline.start();
  backend.set_processing_latency(pipeline.latency_frames());
  backend.start(pipeline);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!backend.finished() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  ASSERT_TRUE(backend.finished());
  backend.stop();
  pipeline.stop();
}

TEST(FileBackend, RoundTripThreeChannelsIsExactAndSameLength) {
  const fs::path dir = temp_dir();
  const int channels = 3, rate = 44100;
  const std::size_t frames = 20000;  // not a multiple of the period
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> input(frames * channels);
  for (auto& x : input) x = dist(rng);
  write_wav(dir / "in.wav", input, channels, rate);

  FileBackendOptions options;
  options.input_path = dir / "in.wav";
  options.output_path = dir / "out.wav";
  FileBackend backend(options);
  StreamConfig sc;
  sc.sample_rate = 0;  // the file's rate
  sc.period_frames = 128;
  sc.input_channels = channels;
  sc.output_channels = channels;
  backend.open(sc);
  EXPECT_EQ(backend.sample_rate(), rate);
  EXPECT_EQ(backend.input_file_channels(), 3u);

  PassThroughNode node(128);
  PipelineConfig pc;
  pc.input_channels = pc.output_channels = channels;
  pc.period_frames = 128;
  pc.sample_rate = rate;
  RingPipeline pipeline(node, pc);
  guard::reset();
  run_to_end(backend, pipeline);
  EXPECT_TRUE(guard::installed());
  EXPECT_EQ(guard::violations(), 0u) << guard::first_violation_or_none();
  EXPECT_FALSE(backend.failed()) << backend.finish_message();
  EXPECT_EQ(pipeline.stats().underflows, 0u);

  SF_INFO info;
  const std::vector<float> output = read_all(dir / "out.wav", info);
  EXPECT_EQ(info.channels, channels);
  EXPECT_EQ(info.samplerate, rate);
  ASSERT_EQ(output.size(), input.size());
  for (std::size_t i = 0; i < input.size(); ++i) ASSERT_EQ(output[i], input[i]) << "sample " << i;
  EXPECT_FALSE(fs::exists(dir / "out.wav.partial"));
  fs::remove_all(dir);
}

TEST(FileBackend, MonoFileFeedsEveryChannel) {
  const fs::path dir = temp_dir();
  std::vector<float> input(1000);
  for (std::size_t i = 0; i < input.size(); ++i) input[i] = static_cast<float>(i) / 1000.0f;
  write_wav(dir / "mono.wav", input, 1, 16000);
  FileBackendOptions options;
  options.input_path = dir / "mono.wav";
  options.output_path = dir / "stereo.wav";
  FileBackend backend(options);
  StreamConfig sc;
  sc.sample_rate = 0;
  sc.period_frames = 64;
  sc.input_channels = sc.output_channels = 2;
  backend.open(sc);
  PassThroughNode node(64);
  PipelineConfig pc;
  pc.input_channels = pc.output_channels = 2;
  pc.period_frames = 64;
  pc.sample_rate = 16000;
  pc.headroom_frames = 37;  // any latency is compensated
  RingPipeline pipeline(node, pc);
  run_to_end(backend, pipeline);
  SF_INFO info;
  const std::vector<float> out = read_all(dir / "stereo.wav", info);
  ASSERT_EQ(info.channels, 2);
  ASSERT_EQ(out.size(), 2 * input.size());
  for (std::size_t i = 0; i < input.size(); ++i) {
    ASSERT_EQ(out[2 * i], input[i]);
    ASSERT_EQ(out[2 * i + 1], input[i]);
  }
  fs::remove_all(dir);
}

TEST(FileBackend, ResamplesInputToTheStreamRate) {
  const fs::path dir = temp_dir();
  const int file_rate = 44100, stream_rate = 48000;
  const double f = 997.0;
  std::vector<float> input(file_rate);  // one second
  for (std::size_t i = 0; i < input.size(); ++i)
    input[i] = 0.5f * static_cast<float>(std::sin(2 * std::numbers::pi * f * i / file_rate));
  write_wav(dir / "in.wav", input, 1, file_rate);
  FileBackendOptions options;
  options.input_path = dir / "in.wav";
  options.output_path = dir / "out.wav";
  FileBackend backend(options);
  StreamConfig sc;
  sc.sample_rate = stream_rate;
  sc.period_frames = 256;
  backend.open(sc);
  PassThroughNode node(256);
  PipelineConfig pc;
  pc.period_frames = 256;
  pc.sample_rate = stream_rate;
  RingPipeline pipeline(node, pc);
  run_to_end(backend, pipeline);
  SF_INFO info;
  const std::vector<float> out = read_all(dir / "out.wav", info);
  EXPECT_EQ(info.samplerate, stream_rate);
  EXPECT_NEAR(static_cast<double>(out.size()), stream_rate, 2.0);
  // Away from the edges the output is the same sine sampled at 48 kHz.
  double max_error = 0;
  for (std::size_t i = 2000; i + 2000 < out.size(); ++i) {
    const double expected = 0.5 * std::sin(2 * std::numbers::pi * f * i / stream_rate);
    max_error = std::max(max_error, std::abs(out[i] - expected));
  }
  EXPECT_LT(max_error, 1e-3);
  fs::remove_all(dir);
}

TEST(FileBackend, UnreadableInputIsOneClearError) {
  const fs::path dir = temp_dir();
  std::ofstream(dir / "notes.wav") << "this is not audio";
  for (const fs::path& bad : {dir / "missing.wav", dir / "notes.wav", dir}) {
    FileBackendOptions options;
    options.input_path = bad;
    FileBackend backend(options);
    try {
      backend.open(StreamConfig{});
      FAIL() << "no error for " << bad;
    } catch (const BackendError& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find(bad.string()), std::string::npos) << what;
      EXPECT_EQ(what.find('\n'), std::string::npos) << what;
    }
  }
  fs::remove_all(dir);
}

TEST(FileBackend, BadOutputIsAnErrorAndLeavesNothingBehind) {
  const fs::path dir = temp_dir();
  FileBackendOptions options;
  options.length_frames = 1000;
  options.output_path = dir / "out.xyz";
  EXPECT_THROW(FileBackend(options).open(StreamConfig{}), BackendError);
  options.output_path = dir / "no" / "such" / "dir.wav";
  EXPECT_THROW(FileBackend(options).open(StreamConfig{}), BackendError);
  FileBackendOptions nothing;  // no input, no length: would never end
  EXPECT_THROW(FileBackend(nothing).open(StreamConfig{}), BackendError);
  EXPECT_TRUE(fs::is_empty(dir));
  fs::remove_all(dir);
}

TEST(FileBackend, AbandonedRunRemovesPartialFile) {
  const fs::path dir = temp_dir();
  {
    FileBackendOptions options;
    options.length_frames = 1000;
    options.output_path = dir / "out.wav";
    FileBackend backend(options);
    backend.open(StreamConfig{});
    EXPECT_TRUE(fs::exists(dir / "out.wav.partial"));
  }  // destroyed without stop(): nothing under either name
  EXPECT_TRUE(fs::is_empty(dir));
  fs::remove_all(dir);
}

TEST(FileBackend, RealTimePacing) {
  FileBackendOptions options;
  options.length_frames = 4800;  // 100 ms at 48 kHz
  options.real_time = true;
  FileBackend backend(options);
  StreamConfig sc;
  sc.period_frames = 480;
  backend.open(sc);
  PassThroughNode node(480);
  PipelineConfig pc;
  pc.period_frames = 480;
  RingPipeline pipeline(node, pc);
  const auto t0 = std::chrono::steady_clock::now();
  run_to_end(backend, pipeline);
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_GT(elapsed, 0.09);
}

}  // namespace
}  // namespace earshot::rt
