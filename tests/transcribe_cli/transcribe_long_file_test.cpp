// `earshot transcribe` on a long recording: the audio is streamed from disk window by window,
// so the command's peak memory for 20 minutes is within a few MiB of its peak for 30 seconds
// (loading the file whole would add its 16 kHz float copy, a padded copy and the whole mel:
// about 190 MB here), and the seek loop walks every window to the end. With stderr on a
// terminal the command shows its progress with an estimated time left.
#include "dsp/audio_file.hpp"
#include "tests/whisper/whisper_test_util.hpp"

#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcntl.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

extern char** environ;

namespace earshot::test::whisper {
namespace {
namespace fs = std::filesystem;

struct Measured {
  int status = -1;
  long peak_rss_kib = 0;
  std::string out;
};

// The child's environment: ours, with AddressSanitizer's quarantine off. ASan keeps freed
// blocks out of reuse (256 MB by default), so under the sanitizer the peak RSS would grow with
// the number of allocations over a run rather than with what the program holds; the measure
// here is what it holds. (Plain builds ignore the variable.)
std::vector<std::string> child_environment() {
  std::vector<std::string> env;
  std::string asan = "ASAN_OPTIONS=quarantine_size_mb=0";
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string entry = *e;
    if (entry.rfind("ASAN_OPTIONS=", 0) == 0)
      asan = entry + ":quarantine_size_mb=0";
    else
      env.push_back(entry);
  }
  env.push_back(asan);
  return env;
}

// Runs the command with stdout to a file and returns its exit status and peak resident memory.
Measured run_measured(const std::vector<std::string>& args, const fs::path& out_file) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const std::vector<std::string> env_strings = child_environment();
  std::vector<char*> envp;
  for (const auto& e : env_strings) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, out_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0644);
  pid_t pid = 0;
  Measured m;
  if (posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), envp.data()) != 0) return m;
  posix_spawn_file_actions_destroy(&actions);
  int status = 0;
  rusage usage{};
  if (wait4(pid, &status, 0, &usage) != pid) return m;
  m.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  m.peak_rss_kib = usage.ru_maxrss;
  std::ifstream in(out_file);
  m.out.assign(std::istreambuf_iterator<char>(in), {});
  return m;
}

// Quiet noise with a tone every few seconds, 16-bit PCM.
fs::path write_recording(const fs::path& path, double seconds) {
  const auto n = static_cast<std::size_t>(seconds * 16000.0);
  std::vector<float> audio(n);
  std::mt19937 rng(9);
  std::normal_distribution<float> noise(0.0f, 0.01f);
  for (std::size_t i = 0; i < n; ++i) {
    const double t = static_cast<double>(i) / 16000.0;
    audio[i] =
        noise(rng) + (std::fmod(t, 7.0) < 2.0 ? 0.2f * std::sin(2.0 * M_PI * 220.0 * t) : 0.0);
  }
  dsp::write_wav_atomic(path, audio, 1, 16000.0, dsp::WavEncoding::Pcm16);
  return path;
}

TEST(TranscribeLongFile, MemoryDoesNotGrowWithLengthAndEveryWindowIsVisited) {
  const fs::path dir = fs::temp_directory_path() / ("earshot_long_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const fs::path short_wav = write_recording(dir / "short.wav", 30.0);
  const fs::path long_wav = write_recording(dir / "long.wav", 1200.0);
  auto command = [&](const fs::path& wav) {
    return std::vector<std::string>{earshot_binary(),
                                    "transcribe",
                                    "--model",
                                    model_dir("tiny-random").string(),
                                    "--tokenizer",
                                    fixture("whisper/tokenizer/hf-multilingual-99").string(),
                                    "--language",
                                    "en",
                                    "--max-tokens",
                                    "2",
                                    "--no-fallback",
                                    "--threads",
                                    "1",
                                    "--format",
                                    "json",
                                    wav.string()};
  };
  const Measured short_run = run_measured(command(short_wav), dir / "short.json");
  const Measured long_run = run_measured(command(long_wav), dir / "long.json");
  ASSERT_EQ(short_run.status, 0);
  ASSERT_EQ(long_run.status, 0);
  const double growth_mib =
      static_cast<double>(long_run.peak_rss_kib - short_run.peak_rss_kib) / 1024.0;
  std::printf("[long file] peak RSS 30 s: %.1f MiB, 20 min: %.1f MiB (growth %.1f MiB)\n",
              short_run.peak_rss_kib / 1024.0, long_run.peak_rss_kib / 1024.0, growth_mib);
  EXPECT_LT(growth_mib, 24.0);

  // The seek loop reached the end: windows start at every multiple of 3000 frames or at a
  // timestamp inside the previous one, and the last segment ends in the last window.
  const auto doc = nlohmann::json::parse(long_run.out);
  const auto& segments = doc.at("segments");
  ASSERT_FALSE(segments.empty());
  int previous_seek = -1;
  for (const auto& s : segments) {
    const int seek = s.at("seek").get<int>();
    EXPECT_GE(seek, previous_seek);
    EXPECT_LE(seek - std::max(previous_seek, 0), 3000);
    previous_seek = seek;
  }
  EXPECT_GE(previous_seek, 120000 - 3000);
  fs::remove_all(dir);
}

// With stderr on a terminal (a pseudo-terminal from script(1)), a progress line with the
// estimated time left appears; with stderr redirected (every other test) it does not.
TEST(TranscribeLongFile, ProgressWithEtaOnATerminal) {
  const fs::path dir =
      fs::temp_directory_path() / ("earshot_progress_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const fs::path wav = write_recording(dir / "a.wav", 95.0);
  const fs::path log = dir / "tty.txt";
  const std::string inner =
      earshot_binary() + " transcribe --model " + model_dir("tiny-random").string() +
      " --tokenizer " + fixture("whisper/tokenizer/hf-multilingual-99").string() +
      " --language en --max-tokens 2 --no-fallback --format json " + wav.string() + " >/dev/null";
  const std::string command =
      "timeout 300 script -qec '" + inner + "' " + log.string() + " >/dev/null 2>&1";
  ASSERT_EQ(std::system(command.c_str()), 0);
  std::ifstream in(log);
  const std::string tty((std::istreambuf_iterator<char>(in)), {});
  EXPECT_NE(tty.find("ETA"), std::string::npos) << tty;
  EXPECT_NE(tty.find("100%"), std::string::npos) << tty;
  EXPECT_NE(tty.find("a.wav"), std::string::npos) << tty;

  const std::string redirected = inner + " 2>" + (dir / "err.txt").string();
  ASSERT_EQ(std::system(redirected.c_str()), 0);
  std::ifstream err(dir / "err.txt");
  const std::string err_text((std::istreambuf_iterator<char>(err)), {});
  EXPECT_EQ(err_text.find("ETA"), std::string::npos) << err_text;
  fs::remove_all(dir);
}

}  // namespace
}  // namespace earshot::test::whisper
