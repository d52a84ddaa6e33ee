// Codec play through JACK against a private dummy server (tests/backends/jack_test_support.hpp:
// server "earshot-test", one at a time through /tmp/earshot-jack-test.lock): the audio a
// recording client receives is the offline decode, and the command drains and exits 0.
#include "rt/backends/jack_backend.hpp"
#include "tests/backends/jack_test_support.hpp"
#include "tests/backends/subprocess.hpp"
#include "tests/codec_play/play_test_util.hpp"

#include <fcntl.h>
#include <sys/stat.h>

#include <fstream>

namespace earshot::codec::test {
namespace {

using earshot::test::JackServer;
using earshot::test::Subprocess;
using earshot::test::TestJackClient;

TEST(CodecPlayJack, RecordedOutputIsTheDecode) {
  const auto& ref = reference();
  JackServer server(24000, 256);  // the model's rate: no resampling, so the check is exact
  ASSERT_TRUE(server.ready()) << "see " << server.log_path();
  rt::JackBackend backend;
  rt::StreamConfig config;
  config.input_channels = 0;
  config.output_channels = 1;
  config.client_name = "codec-play-test";
  backend.open(config);
  CodecPlayerOptions options;
  options.n_q = kNq;
  options.output_rate = backend.sample_rate();
  options.output_channels = 1;
  options.max_period_frames = 4096;
  options.buffer_ms = 300;  // slack for a loaded machine: the clip must play without a gap
  CodecPlayer player(ref.model, reference().budget, options);
  backend.start(player);

  TestJackClient recorder("codec-play-recorder", TestJackClient::Role::Recorder, {},
                          ref.audio.size() + 24000);
  ASSERT_TRUE(recorder.ok());
  ASSERT_EQ(jack_connect(recorder.client(), backend.output_port_names().at(0).c_str(),
                         recorder.port_name().c_str()),
            0);
  recorder.arm();
  ASSERT_TRUE(earshot::test::wait_for([&] { return recorder.started(); }, 10));

  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  const std::string bytes = ref.i16_bytes(0, kFrames);
  ASSERT_EQ(::write(fds[1], bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
  ::close(fds[1]);
  player.start_reading(fds[0], encodec::FrameFraming::kInt16, "pipe");
  ASSERT_TRUE(earshot::test::wait_for([&] { return player.done(); }, 60));
  ASSERT_TRUE(earshot::test::wait_for([&] { return recorder.done(); }, 60));
  backend.stop();
  player.stop();
  ::close(fds[0]);

  const auto s = player.stats();
  std::printf("JACK: %llu late events, start delay %lld frames, %llu xruns\n",
              static_cast<unsigned long long>(s.late_events),
              static_cast<long long>(s.start_delay_frames),
              static_cast<unsigned long long>(backend.xruns()));
  EXPECT_EQ(s.late_events, 0u);
  EXPECT_EQ(s.audio_frames_played, ref.audio.size());
  const auto& rec = recorder.recording();
  const std::size_t r0 = first_nonzero(rec.data(), rec.size());
  const std::size_t a0 = first_nonzero(ref.audio.data(), ref.audio.size());
  ASSERT_GE(r0, a0);
  const std::size_t start = r0 - a0;
  ASSERT_LE(start + ref.audio.size(), rec.size()) << "the recording missed the end";
  const float err = max_abs_diff(rec.data() + start, ref.audio.data(), ref.audio.size());
  std::printf("JACK recording vs offline decode: max |diff| %.3g\n", err);
  EXPECT_LE(err, 1e-5f);
}

TEST(CodecPlayJack, CommandConnectsToSystemPlaybackAndDrains) {
  const auto& ref = reference();
  JackServer server(48000, 256);  // resampled 24 -> 48 kHz
  ASSERT_TRUE(server.ready()) << "see " << server.log_path();
  const std::string codes = "/tmp/earshot-codec-play-jack-" + std::to_string(::getpid());
  std::ofstream(codes, std::ios::binary) << ref.i16_bytes(0, 150);
  Subprocess run({earshot::test::earshot_binary(), "codec", "play", "--model", model_dir().string(),
                  "--codes", codes, "--jack", "--connect", "--buffer-ms", "200"});
  EXPECT_EQ(run.wait(60), 0) << run.err();
  const std::string err = run.err();
  EXPECT_NE(err.find("JACK client 'earshot-codec' at 48000 Hz, 2 channel(s)"), std::string::npos)
      << err;
  EXPECT_NE(err.find("150 frames, 2.00 s of audio"), std::string::npos) << err;
  EXPECT_NE(err.find("underruns:"), std::string::npos) << err;
  std::remove(codes.c_str());
}

TEST(CodecPlayJack, ProducerGapIsCountedAsLateSilence) {
  // A producer that pauses for a second mid-stream: the command reports the gap as one late
  // event with at least the uncovered part of it as silence, then plays the rest and exits 0.
  const auto& ref = reference();
  JackServer server(48000, 256);
  ASSERT_TRUE(server.ready()) << "see " << server.log_path();
  const std::string fifo = "/tmp/earshot-codec-play-gap-" + std::to_string(::getpid());
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  Subprocess run({earshot::test::earshot_binary(), "codec", "play", "--model", model_dir().string(),
                  "--codes", fifo, "--jack", "--mono"});
  const int fd = ::open(fifo.c_str(), O_WRONLY);
  ASSERT_GE(fd, 0);
  const std::string first = ref.i16_bytes(0, 30), second = ref.i16_bytes(30, 60);
  ASSERT_EQ(::write(fd, first.data(), first.size()), static_cast<ssize_t>(first.size()));
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // 400 ms of audio, 1.5 s pause
  ASSERT_EQ(::write(fd, second.data(), second.size()), static_cast<ssize_t>(second.size()));
  ::close(fd);
  EXPECT_EQ(run.wait(60), 0) << run.err();
  const std::string err = run.err();
  EXPECT_NE(err.find("60 frames, 0.80 s of audio"), std::string::npos) << err;
  const auto at = err.find("late: ");
  ASSERT_NE(at, std::string::npos) << err;
  unsigned events = 0;
  double silence = 0;
  ASSERT_EQ(std::sscanf(err.c_str() + at, "late: %u events, %lf s silence", &events, &silence), 2)
      << err;
  EXPECT_GE(events, 1u) << err;
  EXPECT_GE(silence, 0.8) << err;  // the pause less the 400 ms already buffered, with slack
  std::remove(fifo.c_str());
}

}  // namespace
}  // namespace earshot::codec::test
