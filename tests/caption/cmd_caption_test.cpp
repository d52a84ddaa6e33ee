// End to end: the real `earshot caption` command on the fixture speech with tiny-random and the
// fixture tokenizer: JSON-lines events well-formed and monotonic, SRT to a file, Ctrl-C in the
// middle of a real-time run still flushes and closes the output, clear errors.
#include "models/whisper/tokenizer.hpp"
#include "tests/test_support.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

namespace earshot::test {
namespace {
namespace fs = std::filesystem;

fs::path temp_path(const std::string& name) {
  return fs::temp_directory_path() / ("earshot_caption_" + std::to_string(::getpid()) + "_" + name);
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

CommandRun run(const std::string& args) {
  return run_earshot("caption " + args);
}

std::string tiny_args() {
  return "--model " + fixture("whisper/tiny-random").string() + " --tokenizer " +
         fixture("whisper/tokenizer/hf-multilingual-99").string() +
         " --language en --max-tokens 24 ";
}
std::string speech() {
  return fixture("audio/speech_16k.wav").string();
}

// Checks every line is a well-formed event and the stream is monotonic; returns the commits.
std::vector<nlohmann::json> check_events(const std::string& jsonl, double duration) {
  std::vector<nlohmann::json> commits;
  std::istringstream lines(jsonl);
  std::string line;
  double last_commit_end = 0.0;
  long last_step = 0;
  std::size_t count = 0;
  while (std::getline(lines, line)) {
    SCOPED_TRACE(line);
    ++count;
    nlohmann::json e;
    EXPECT_NO_THROW(e = nlohmann::json::parse(line));
    if (!e.is_object()) continue;
    const bool typed = e.contains("type") && e["type"].is_string();
    EXPECT_TRUE(typed);
    if (!typed) continue;
    const std::string type = e["type"];
    EXPECT_TRUE(type == "partial" || type == "commit");
    const bool fields = e["start"].is_number() && e["end"].is_number() &&
                        e["step"].is_number_integer() && e["text"].is_string() &&
                        e["tokens"].is_array();
    EXPECT_TRUE(fields);
    if (!fields) continue;
    const double start = e["start"], end = e["end"];
    EXPECT_TRUE(std::isfinite(start) && std::isfinite(end));
    EXPECT_LE(start, end);
    EXPECT_GE(start, 0.0);
    EXPECT_LE(end, duration + 0.05);
    EXPECT_GE(e["step"].get<long>(), last_step);
    last_step = e["step"];
    for (const auto& t : e["tokens"]) EXPECT_TRUE(t.is_number_integer());
    if (type == "commit") {
      EXPECT_FALSE(e["tokens"].empty());
      EXPECT_GE(start, last_commit_end - 1e-9) << "commits go forward in time";
      last_commit_end = end;
      EXPECT_TRUE(e["latency"].is_number() && e["latency"].get<double>() >= 0.0);
      commits.push_back(e);
    }
  }
  EXPECT_GT(count, 0u);
  return commits;
}

TEST(CaptionCommand, JsonlEventsAreWellFormedMonotonicAndDecodeToTheirTokens) {
  const CommandRun r = run(tiny_args() + "--format jsonl --input " + speech());
  ASSERT_EQ(r.status, 0) << r.err;
  const auto commits = check_events(r.out, 108431 / 16000.0);
  ASSERT_FALSE(commits.empty());
  // The text of the commits is the tokenizer's decoding of all committed ids.
  const auto tok =
      models::whisper::Tokenizer::load(fixture("whisper/tokenizer/hf-multilingual-99"));
  std::vector<int> ids;
  std::string text;
  for (const auto& c : commits) {
    for (const auto& t : c["tokens"]) ids.push_back(t.get<int>());
    text += c["text"].get<std::string>();
  }
  EXPECT_EQ(text, tok.decode_text(ids));
  // The last line: nothing left pending.
  const std::string last = r.out.substr(r.out.rfind('\n', r.out.size() - 2) + 1);
  const auto e = nlohmann::json::parse(last);
  EXPECT_EQ(e["type"], "partial");
  EXPECT_TRUE(e["tokens"].empty());
  // The end-of-run report.
  EXPECT_NE(r.err.find("real-time factor"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("p95"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("dropped audio 0.00 s"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("peak memory"), std::string::npos) << r.err;

  // Deterministic: a second run commits the same tokens.
  const CommandRun again = run(tiny_args() + "--format jsonl --input " + speech());
  ASSERT_EQ(again.status, 0) << again.err;
  std::vector<int> ids2;
  for (const auto& c : check_events(again.out, 108431 / 16000.0))
    for (const auto& t : c["tokens"]) ids2.push_back(t.get<int>());
  EXPECT_EQ(ids2, ids);
}

TEST(CaptionCommand, SrtToAFile) {
  const fs::path srt = temp_path("out.srt");
  const CommandRun r =
      run(tiny_args() + "--format srt --output " + srt.string() + " --input " + speech());
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(r.out.empty()) << "captions go to the file";
  const std::string text = read_file(srt);
  EXPECT_EQ(text.rfind("1\n00:00:", 0), 0u) << text;
  EXPECT_NE(text.find(" --> "), std::string::npos);
  fs::remove(srt);
}

TEST(CaptionCommand, StereoFileAt48kIsMixedAndResampledTo16k) {
  // The same speech as a 48 kHz stereo file: the worker's resampler delivers all of it (its
  // delay flushed at the end), so the node hears as many seconds as the 16 kHz file holds.
  const CommandRun r = run(tiny_args() + "--format jsonl --input " +
                           fixture("audio/speech_48k_stereo.wav").string());
  ASSERT_EQ(r.status, 0) << r.err;
  check_events(r.out, 108431 / 16000.0);
  EXPECT_NE(r.err.find("earshot caption: 6.78 s of audio"), std::string::npos) << r.err;
}

TEST(CaptionCommand, InterruptFlushesPendingTextAndClosesTheFile) {
  const fs::path out = temp_path("interrupted.jsonl");
  const fs::path err = temp_path("interrupted.err");
  const std::string cmd = earshot_binary() + " caption " + tiny_args() +
                          "--format jsonl --realtime --output " + out.string() + " --input " +
                          speech() + " 2>" + err.string();
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    execl("/bin/sh", "sh", "-c", ("exec " + cmd).c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  // Real-time pace: interrupt after ~2.5 s of the 6.8 s file.
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  ::kill(pid, SIGINT);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status)) << "killed instead of a clean stop";
  EXPECT_EQ(WEXITSTATUS(status), 0) << read_file(err);
  const std::string jsonl = read_file(out);
  ASSERT_FALSE(jsonl.empty());
  EXPECT_EQ(jsonl.back(), '\n') << "the file is complete";
  check_events(jsonl, 108431 / 16000.0);
  const std::string last = jsonl.substr(jsonl.rfind('\n', jsonl.size() - 2) + 1);
  const auto e = nlohmann::json::parse(last);
  EXPECT_EQ(e["type"], "partial");
  EXPECT_TRUE(e["tokens"].empty()) << "pending text was committed on Ctrl-C";
  const std::string report = read_file(err);
  EXPECT_NE(report.find("real-time factor"), std::string::npos) << report;
  fs::remove(out);
  fs::remove(err);
}

TEST(CaptionCommand, AudioContextOptionAndThePassTimeReport) {
  // auto is the default; full and a fixed minimum run end to end; the report says how much
  // context the passes used and where their time went.
  for (const std::string ctx : {"", "--audio-ctx full ", "--audio-ctx 700 "}) {
    SCOPED_TRACE(ctx);
    const CommandRun r = run(tiny_args() + ctx + "--format jsonl --input " + speech());
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_FALSE(check_events(r.out, 108431 / 16000.0).empty());
    const auto at = r.err.find("mean audio context ");
    ASSERT_NE(at, std::string::npos) << r.err;
    const double mean = std::stod(r.err.substr(at + 19));
    if (ctx.empty()) {
      // 6.78 s of audio in 1 s steps: windows of 1..6.78 s, contexts of 128..448 positions.
      EXPECT_GE(mean, 128.0);
      EXPECT_LE(mean, 448.0);
    } else if (ctx.find("full") != std::string::npos) {
      EXPECT_EQ(mean, 1500.0);
    } else {
      EXPECT_EQ(mean, 700.0);
    }
    EXPECT_NE(r.err.find("encoder"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("process RSS"), std::string::npos) << r.err;
  }
  CommandRun r = run(tiny_args() + "--audio-ctx fast --input " + speech());
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("--audio-ctx"), std::string::npos) << r.err;
  r = run(tiny_args() + "--audio-ctx 2000 --input " + speech());
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("2000"), std::string::npos) << r.err;
}

TEST(CaptionCommand, ClearErrors) {
  CommandRun r = run(tiny_args() + "--format jsonl --input /nonexistent/audio.wav");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("/nonexistent/audio.wav"), std::string::npos) << r.err;
  r = run(tiny_args() + "--format bogus --input " + speech());
  EXPECT_NE(r.status, 0);
  r = run("--model /nonexistent/model --input " + speech());
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("/nonexistent/model"), std::string::npos) << r.err;
  r = run(tiny_args() + "--step-ms 0 --input " + speech());
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("step"), std::string::npos) << r.err;
  r = run(tiny_args() + "--vad-model /nonexistent/vad.onnx --input " + speech());
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("vad.onnx"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace earshot::test
