// `earshot codec play` end to end: codes piped in as a producer writes them, into a WAV file;
// JSON-lines input; bad input gives one clear line and exit 1, never a crash.
#include "dsp/audio_file.hpp"
#include "tests/backends/subprocess.hpp"
#include "tests/codec_play/play_test_util.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cstdio>
#include <fstream>

namespace earshot::codec::test {
namespace {

using earshot::test::Subprocess;

std::string temp(const std::string& name) {
  return "/tmp/earshot-codec-play-" + std::to_string(::getpid()) + "-" + name;
}

void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

std::string slurp(const std::string& path) {
  std::ifstream f(path);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

std::vector<std::string> play_args(const std::string& codes, const std::string& wav) {
  return {earshot::test::earshot_binary(),
          "codec",
          "play",
          "--model",
          model_dir().string(),
          "--codes",
          codes,
          "--output",
          wav};
}

TEST(CodecPlayCommand, PipedCodesBecomeTheOfflineDecode) {
  const auto& ref = reference();
  const std::string wav = temp("pipe.wav"), err = temp("pipe.err");
  const std::string command = earshot::test::earshot_binary() + " codec play --model '" +
                              model_dir().string() + "' --codes - --output '" + wav + "' 2> '" +
                              err + "'";
  std::FILE* pipe = ::popen(command.c_str(), "w");
  ASSERT_NE(pipe, nullptr);
  // A producer that writes a few frames at a time, as a text-to-speech model would.
  for (std::int64_t f = 0; f < kFrames; f += 7) {
    const std::string bytes = ref.i16_bytes(f, std::min(kFrames, f + 7));
    ASSERT_EQ(std::fwrite(bytes.data(), 1, bytes.size(), pipe), bytes.size());
    std::fflush(pipe);
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  const int status = ::pclose(pipe);
  const std::string log = slurp(err);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << log;
  EXPECT_NE(log.find("313 frames, 4.17 s of audio"), std::string::npos) << log;
  EXPECT_NE(log.find("late: 0 events"), std::string::npos) << log;
  const auto audio = dsp::read_audio_file(wav);
  EXPECT_EQ(audio.sample_rate, 24000.0);
  ASSERT_EQ(audio.frames(), ref.audio.size());
  const float diff = max_abs_diff(audio.samples.data(), ref.audio.data(), ref.audio.size());
  std::printf("piped i16 -> WAV vs offline decode: max |diff| %.3g\n", diff);
  EXPECT_LE(diff, 1e-5f);
  std::remove(wav.c_str());
  std::remove(err.c_str());
}

TEST(CodecPlayCommand, JsonLinesAndInt32Framings) {
  const auto& ref = reference();
  std::string jsonl, i32;
  for (std::int64_t f = 0; f < 40; ++f) {
    // Alternate one frame per line and two frames per line.
    const bool pair = f % 3 == 1 && f + 1 < 40;
    jsonl += pair ? "[" : "";
    for (std::int64_t g = f; g <= (pair ? f + 1 : f); ++g) {
      jsonl += g > f ? ", [" : "[";
      for (int q = 0; q < kNq; ++q) {
        jsonl += (q ? ", " : "") + std::to_string(ref.codes[g * kNq + q]);
        const auto v = static_cast<std::uint32_t>(ref.codes[g * kNq + q]);
        for (int b = 0; b < 4; ++b) i32.push_back(static_cast<char>((v >> (8 * b)) & 0xff));
      }
      jsonl += "]";
    }
    jsonl += pair ? "]\n\n" : "\n";
    if (pair) ++f;
  }
  const auto expected = ref.offline(40);
  for (const auto& [format, bytes] :
       std::vector<std::pair<std::string, std::string>>{{"jsonl", jsonl}, {"i32", i32}}) {
    const std::string codes = temp("codes." + format), wav = temp(format + ".wav");
    write_file(codes, bytes);
    auto args = play_args(codes, wav);
    args.insert(args.end(), {"--format", format, "--bandwidth", "6"});
    Subprocess run(args);
    ASSERT_EQ(run.wait(60), 0) << run.err();
    const auto audio = dsp::read_audio_file(wav);
    ASSERT_EQ(audio.frames(), expected.size()) << format;
    EXPECT_LE(max_abs_diff(audio.samples.data(), expected.data(), expected.size()), 1e-5f)
        << format;
    std::remove(codes.c_str());
    std::remove(wav.c_str());
  }
}

// Runs play on `bytes` and expects exit 1 with `message` on stderr.
void expect_rejected(const std::string& bytes, const std::vector<std::string>& extra,
                     const std::string& message) {
  const std::string codes = temp("bad"), wav = temp("bad.wav");
  write_file(codes, bytes);
  auto args = play_args(codes, wav);
  args.insert(args.end(), extra.begin(), extra.end());
  Subprocess run(args);
  EXPECT_EQ(run.wait(60), 1) << run.err();
  EXPECT_NE(run.err().find(message), std::string::npos) << run.err();
  std::remove(codes.c_str());
  std::remove(wav.c_str());
}

TEST(CodecPlayCommand, BadInputIsOneClearError) {
  const auto& ref = reference();
  std::string out_of_range = ref.i16_bytes(0, 12);
  out_of_range[11 * 16 + 2] = static_cast<char>(0x00);  // frame 11, codebook 1: 1024
  out_of_range[11 * 16 + 3] = static_cast<char>(0x04);
  expect_rejected(out_of_range, {}, "frame 11, codebook 1: code 1024 is outside [0, 1024)");
  expect_rejected(ref.i16_bytes(0, 5) + "xyz", {}, "ended inside frame 5 (3 of 16 bytes)");
  expect_rejected("[1, 2, 3, 4]\n", {"--format", "jsonl"}, "frame 0 is not an array of 8 codes");
  expect_rejected("[1, 2, oops]\n", {"--format", "jsonl"}, "is not JSON");
  // 24 kbps = 32 codebooks, but the stream carries 8 per frame: 313 * 16 bytes is not a whole
  // number of 64-byte frames, and the mixed-up codes fall out of range or the end is partial.
  expect_rejected(ref.i16_bytes(0, kFrames), {"--bandwidth", "24"}, "frame");
  expect_rejected("", {"--codebooks", "5"}, "codebooks");
  expect_rejected("", {"--format", "f32"}, "unknown code framing 'f32'");
  Subprocess both({earshot::test::earshot_binary(), "codec", "play", "--model",
                   model_dir().string(), "--codes", "/dev/null", "--jack", "--output", "x.wav"});
  EXPECT_EQ(both.wait(60), 1);
  EXPECT_NE(both.err().find("choose one of"), std::string::npos) << both.err();
}

TEST(CodecPlayCommand, InterruptWhileTheProducerIsSilentEndsCleanly) {
  // The producer keeps its pipe open and stops writing: Ctrl-C still ends the run at once, with
  // the audio so far in the file and the summary printed.
  const std::string fifo = temp("fifo"), wav = temp("int.wav");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  Subprocess run(play_args(fifo, wav));
  const int fd = ::open(fifo.c_str(), O_WRONLY);  // waits for the player to open it
  ASSERT_GE(fd, 0);
  const std::string bytes = reference().i16_bytes(0, 20);
  ASSERT_EQ(::write(fd, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  run.signal(SIGINT);
  EXPECT_EQ(run.wait(10), 130) << run.err();
  EXPECT_NE(run.err().find("20 frames"), std::string::npos) << run.err();
  EXPECT_GE(dsp::read_audio_file(wav).frames(), 20u * kHop - 256);
  ::close(fd);
  std::remove(fifo.c_str());
  std::remove(wav.c_str());
}

TEST(CodecPlayCommand, RefusesTheNonCausalModel) {
  Subprocess run({earshot::test::earshot_binary(), "codec", "play", "--model",
                  earshot::test::fixture("encodec/48khz-random").string(), "--codes", "/dev/null",
                  "--output", temp("48.wav")});
  EXPECT_EQ(run.wait(60), 1);
  EXPECT_NE(run.err().find("needs a causal model"), std::string::npos) << run.err();
}

TEST(CodecPlayCommand, HelpDocumentsTheFramingAndOutputs) {
  Subprocess run({earshot::test::earshot_binary(), "codec", "play", "--help"});
  EXPECT_EQ(run.wait(30), 0);
  for (const char* needle : {"little-endian int16", "jsonl", "--jack", "--connect", "--device",
                             "--buffer-ms", "--output", "silence"}) {
    EXPECT_NE(run.out().find(needle), std::string::npos) << needle;
  }
}

}  // namespace
}  // namespace earshot::codec::test
