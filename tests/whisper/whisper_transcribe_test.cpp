// The 30-second seek loop: the padded recording's log-mel against the fixture mel, and the
// first window of a 30 s recording decoded exactly like the fixture's decode().
#include "models/whisper/whisper_transcribe.hpp"
#include "models/whisper/tokenizer.hpp"
#include "tests/whisper/whisper_test_util.hpp"

#include <gtest/gtest.h>

namespace earshot::models::whisper {
namespace {
using namespace earshot::test::whisper;

TEST(WhisperTranscribe, PaddedLogMelMatchesFixtureMel) {
  for (const char* name : {"tiny-random", "v3-random"}) {
    const auto ref = refs(name);
    const auto audio = ref.load_f32("audio");
    const auto expected = ref.load_f32("mel");
    const int n_mels = static_cast<int>(ref.info("mel").shape[0]);
    const auto mel = whisper_log_mel_padded(audio, n_mels);
    const std::size_t frames = mel.size() / static_cast<std::size_t>(n_mels);
    ASSERT_EQ(frames, (audio.size() + 480000) / 160);
    // Audio shorter than 30 s: the first 3000 frames are what pad_or_trim + log-mel gives.
    std::vector<float> first(static_cast<std::size_t>(n_mels) * 3000);
    for (int m = 0; m < n_mels; ++m)
      std::copy_n(mel.begin() + static_cast<std::ptrdiff_t>(m * frames), 3000,
                  first.begin() + m * 3000);
    const double err = max_abs_diff(first, expected);
    std::printf("[%s] padded log-mel vs fixture mel max |diff| = %.3g (tolerance 2e-4)\n", name,
                err);
    EXPECT_LE(err, 2e-4) << name;
  }
}

TEST(WhisperTranscribe, RejectsNonFiniteAudio) {
  std::vector<float> audio(16000, 0.0f);
  audio[100] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_THROW(whisper_log_mel_padded(audio, 80), std::invalid_argument);
}

// A recording of exactly 30 s: its first window is the fixture's mel, so the segments of that
// window must carry exactly openai's greedy tokens.
void check_first_window(const std::string& name, bool timestamps) {
  rt::MemoryBudget budget(512u << 20);
  auto model = WhisperModel::load(model_dir(name), budget);
  const auto ref = refs(name);
  auto audio = ref.load_f32("audio");
  audio.resize(480000, 0.0f);
  const auto mel = whisper_log_mel_padded(audio, model->config.n_mels);
  WhisperTranscriber transcriber(*model, budget, 1);
  TranscribeOptions o;
  o.decode.language = "en";
  o.decode.sample_len = 24;
  o.decode.without_timestamps = !timestamps;
  o.temperatures = {0.0f};
  const int frames = static_cast<int>(mel.size() / static_cast<std::size_t>(model->config.n_mels));
  const Transcript t = transcriber.transcribe(mel, frames, o);
  std::vector<int> first_window;
  int next_seek = -1;
  for (const auto& s : t.segments) {
    if (s.seek == 0)
      first_window.insert(first_window.end(), s.tokens.begin(), s.tokens.end());
    else if (next_seek < 0)
      next_seek = s.seek;
  }
  // transcribe() keeps the window's tokens up to its last pair of consecutive timestamps (the
  // unfinished segment after it is decoded again from the next window, which starts at that
  // timestamp). Every fixture decode has such a pair and does not end in a single timestamp.
  const auto expected = ref.load_i32(timestamps ? "greedy_timestamps" : "greedy_notimestamps");
  const int ts = model->tokens.timestamp_begin;
  std::size_t cut = 0;
  for (std::size_t i = 1; i < expected.size(); ++i)
    if (expected[i - 1] >= ts && expected[i] >= ts) cut = i;
  ASSERT_GT(cut, 0u);
  EXPECT_EQ(first_window, std::vector<int>(expected.begin(), expected.begin() + cut));
  EXPECT_EQ(next_seek, (expected[cut - 1] - ts) * 2);
  EXPECT_EQ(t.language, "en");
  for (const auto& s : t.segments) EXPECT_FALSE(s.tokens.empty() && s.start != s.end);
}

TEST(WhisperTranscribe, TinyFirstWindowNoTimestamps) {
  check_first_window("tiny-random", false);
}
TEST(WhisperTranscribe, TinyFirstWindowTimestamps) {
  check_first_window("tiny-random", true);
}
TEST(WhisperTranscribe, V3FirstWindowTimestamps) {
  check_first_window("v3-random", true);
}

}  // namespace
}  // namespace earshot::models::whisper

namespace earshot::models::whisper {
namespace {
// Temperature fallback: tiny-random's greedy text ("cji" then "cely" x15 ...) is repetitive, so
// its zlib compression ratio exceeds 2.4 and transcribe() must retry at higher temperatures,
// stopping at the first result that passes both thresholds (or the last temperature).
TEST(WhisperTranscribe, TemperatureFallbackOnRepetitiveText) {
  rt::MemoryBudget budget(512u << 20);
  auto model = WhisperModel::load(model_dir("tiny-random"), budget);
  const auto tokenizer =
      Tokenizer::load(earshot::test::fixture("whisper/tokenizer/hf-multilingual-99"));
  const auto ref = refs("tiny-random");
  auto audio = ref.load_f32("audio");
  audio.resize(480000, 0.0f);
  const auto mel = whisper_log_mel_padded(audio, model->config.n_mels);
  WhisperTranscriber transcriber(*model, budget, 5);
  transcriber.set_text_decoder(
      [&tokenizer](std::span<const int> ids) { return tokenizer.decode(ids); });

  DecodingOptions greedy;
  greedy.language = "en";
  greedy.sample_len = 24;
  greedy.without_timestamps = true;
  std::vector<float> window(static_cast<std::size_t>(model->config.n_mels) * 3000);
  const std::size_t frames = mel.size() / static_cast<std::size_t>(model->config.n_mels);
  for (int m = 0; m < model->config.n_mels; ++m)
    std::copy_n(mel.begin() + static_cast<std::ptrdiff_t>(m * frames), 3000,
                window.begin() + m * 3000);
  const DecodingResult t0 = transcriber.decode_window(window.data(), greedy);
  ASSERT_EQ(t0.tokens, ref.load_i32("greedy_notimestamps"));
  EXPECT_EQ(t0.compression_ratio, compression_ratio(t0.text));
  ASSERT_GT(t0.compression_ratio, 2.4) << t0.text;

  TranscribeOptions o;
  o.decode = greedy;
  o.decode.best_of = 2;
  o.decode.seed = 3;
  const Transcript t = transcriber.transcribe(mel, static_cast<int>(frames), o);
  ASSERT_FALSE(t.segments.empty());
  const auto& s = t.segments.front();
  EXPECT_GT(s.temperature, 0.0f) << "the repetitive greedy result must not be kept";
  const bool passes = s.compression_ratio <= 2.4 && s.avg_logprob >= -1.0;
  EXPECT_TRUE(passes || s.temperature == 1.0f)
      << "temperature " << s.temperature << ", ratio " << s.compression_ratio << ", logprob "
      << s.avg_logprob;
}
}  // namespace
}  // namespace earshot::models::whisper
