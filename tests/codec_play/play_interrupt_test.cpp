// Ctrl-C while `earshot codec play` still waits for the writer of its code FIFO: the user gave up
// on the stream, so the command says so and exits 130 (the shell's code for SIGINT), not as an
// error about the file, and writes no WAV.
#include "tests/backends/subprocess.hpp"
#include "tests/codec_play/play_test_util.hpp"

#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <thread>

namespace earshot::codec::test {
namespace {

TEST(CodecPlayInterrupt, CtrlCWhileWaitingForTheFifosWriterExits130) {
  const std::string base = "/tmp/earshot-codec-play-int-" + std::to_string(::getpid());
  const std::string fifo = base + ".fifo", wav = base + ".wav";
  std::remove(fifo.c_str());
  std::remove(wav.c_str());
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  earshot::test::Subprocess run({earshot::test::earshot_binary(), "codec", "play", "--model",
                                 model_dir().string(), "--codes", fifo, "--output", wav});
  // Long enough for the model to load and the command to block in the FIFO's open().
  std::this_thread::sleep_for(std::chrono::seconds(2));
  run.signal(SIGINT);
  EXPECT_EQ(run.wait(60), 130) << run.err();
  EXPECT_NE(run.err().find("interrupted before"), std::string::npos) << run.err();
  EXPECT_FALSE(std::filesystem::exists(wav));
  std::remove(fifo.c_str());
}

}  // namespace
}  // namespace earshot::codec::test
