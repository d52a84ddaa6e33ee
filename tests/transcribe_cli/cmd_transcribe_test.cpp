// End to end: the real `earshot transcribe` command on the fixture speech with tiny-random and
// the fixture tokenizer.
#include "dsp/audio_file.hpp"
#include "tests/whisper/whisper_test_util.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

namespace earshot::test::whisper {
namespace {
namespace fs = std::filesystem;

CommandRun run(const std::string& args) {
  return run_earshot("transcribe " + args);
}

std::string tiny_args() {
  return "--model " + model_dir("tiny-random").string() + " --tokenizer " +
         fixture("whisper/tokenizer/hf-multilingual-99").string();
}

// The fixture speech padded to exactly 30 s (float WAV, so the samples survive unchanged): the
// first window's mel is then the fixture's mel, and the command's segments from that window
// must carry openai's greedy tokens up to the window's last timestamp pair (transcribe() decodes
// the unfinished rest again from the next window).
void check_cli_first_window(bool timestamps) {
  const auto ref = refs("tiny-random");
  auto audio = ref.load_f32("audio");
  audio.resize(480000, 0.0f);
  const fs::path wav =
      fs::temp_directory_path() / ("earshot_transcribe_30s_" + std::to_string(::getpid()) + ".wav");
  dsp::write_wav_atomic(wav, audio, 1, 16000.0, dsp::WavEncoding::Float32);
  const CommandRun r = run(tiny_args() +
                           " --language en --task transcribe --temperature 0 --no-fallback"
                           " --max-tokens 24 --format json " +
                           std::string(timestamps ? "" : "--no-timestamps ") + wav.string());
  fs::remove(wav);
  ASSERT_EQ(r.status, 0) << r.err;
  const auto doc = nlohmann::json::parse(r.out);
  std::vector<int> first_window;
  for (const auto& s : doc.at("segments"))
    if (s.at("seek").get<int>() == 0)
      for (int t : s.at("tokens")) first_window.push_back(t);
  const auto expected = ref.load_i32(timestamps ? "greedy_timestamps" : "greedy_notimestamps");
  std::size_t cut = 0;
  for (std::size_t i = 1; i < expected.size(); ++i)
    if (expected[i - 1] >= 50364 && expected[i] >= 50364) cut = i;
  ASSERT_GT(cut, 0u);
  EXPECT_EQ(first_window, std::vector<int>(expected.begin(), expected.begin() + cut));
  // The text is the tokenizer's decode of the segment's text tokens: "cji" starts both decodes.
  ASSERT_FALSE(doc.at("segments").empty());
  EXPECT_NE(doc["segments"][0].at("text").get<std::string>().find("cji"), std::string::npos);
}

TEST(WhisperCli, JsonTokensMatchFixtureNoTimestamps) {
  check_cli_first_window(false);
}
TEST(WhisperCli, JsonTokensMatchFixtureTimestamps) {
  check_cli_first_window(true);
}

TEST(WhisperCli, AllFormatsRunOnTheFixtureAudio) {
  const std::string audio = fixture("audio/speech_16k.wav").string();
  for (const char* format : {"text", "srt", "vtt", "json"}) {
    const CommandRun r =
        run(tiny_args() + " --language en --max-tokens 8 --format " + format + " " + audio);
    EXPECT_EQ(r.status, 0) << format << ": " << r.err;
    EXPECT_FALSE(r.out.empty()) << format;
  }
  const CommandRun vtt = run(tiny_args() + " --language en --max-tokens 8 --format vtt " + audio);
  EXPECT_EQ(vtt.out.rfind("WEBVTT", 0), 0u);
  const CommandRun srt = run(tiny_args() + " --language en --max-tokens 8 --format srt " + audio);
  EXPECT_NE(srt.out.find(" --> "), std::string::npos);
}

// Language detection, translation, an initial prompt and beam search through the command.
TEST(WhisperCli, OptionsReachTheDecoder) {
  const std::string audio = fixture("audio/speech_16k.wav").string();
  const CommandRun detected = run(tiny_args() + " --max-tokens 6 --format json " + audio);
  ASSERT_EQ(detected.status, 0) << detected.err;
  const auto doc = nlohmann::json::parse(detected.out);
  EXPECT_EQ(doc.at("language").get<std::string>().size() >= 2, true);
  const CommandRun options = run(tiny_args() +
                                 " --language de --task translate --initial-prompt 'Hello there.'"
                                 " --beam-size 3 --no-condition-on-previous-text --max-tokens 6"
                                 " --format json " +
                                 audio);
  ASSERT_EQ(options.status, 0) << options.err;
  EXPECT_EQ(nlohmann::json::parse(options.out).at("language"), "de");
}

TEST(WhisperCli, BadInputIsOneClearLine) {
  const std::string audio = fixture("audio/speech_16k.wav").string();
  auto expect_error = [](const CommandRun& r, const std::string& needle) {
    EXPECT_NE(r.status, 0);
    EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
    EXPECT_TRUE(r.out.empty());
  };
  expect_error(run(tiny_args() + " --language xx " + audio), "unknown language");
  expect_error(run("--model /nonexistent/model " + audio), "config.json");
  expect_error(run(tiny_args() + " /nonexistent/audio.wav"), "/nonexistent/audio.wav");
  // Text output needs a tokenizer: the model directory has none.
  expect_error(run("--model " + model_dir("tiny-random").string() + " --format srt " + audio),
               "tokenizer");
  // The 100-language v3 model with the 99-language tokenizer.
  expect_error(run("--model " + model_dir("v3-random").string() + " --tokenizer " +
                   fixture("whisper/tokenizer/hf-multilingual-99").string() + " " + audio),
               "tokens");
  expect_error(run(tiny_args() + " --budget-mb 1 " + audio), "budget");
}

}  // namespace
}  // namespace earshot::test::whisper
