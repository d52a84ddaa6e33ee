// Greedy decoding against openai/whisper's decode() (tokens exact; avg_logprob and
// no_speech_prob within 1e-4), from the fixture mel through our encoder and decoder.
#include "models/whisper/whisper_decoding.hpp"
#include "models/whisper/whisper_encoder.hpp"
#include "tests/whisper/whisper_test_util.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <set>

namespace earshot::models::whisper {
namespace {
using namespace earshot::test::whisper;

struct Session {
  rt::MemoryBudget budget{512u << 20};
  std::unique_ptr<WhisperModel> model;
  std::unique_ptr<WhisperDecoding> decoding;
  SafetensorsFile ref;

  explicit Session(const std::string& name, int group = 5) : ref(refs(name)) {
    model = WhisperModel::load(model_dir(name), budget);
    const auto mel = ref.load_f32("mel");
    std::vector<float> features(static_cast<std::size_t>(model->config.n_audio_ctx) *
                                model->config.d_model);
    WhisperEncoder encoder(*model, budget);
    encoder.forward(mel.data(), model->config.n_mels, model->config.n_mel_frames(),
                    features.data());
    decoding = std::make_unique<WhisperDecoding>(*model, budget, group);
    decoding->set_audio(features.data());
  }
};

DecodingOptions fixture_options(bool timestamps) {
  DecodingOptions o;  // decode_results.json "options"
  o.language = "en";
  o.temperature = 0.0f;
  o.sample_len = 24;
  o.without_timestamps = !timestamps;
  o.max_initial_timestamp = 1.0f;
  return o;
}

void check_greedy(const std::string& name, bool timestamps) {
  Session s(name);
  const std::string key = timestamps ? "greedy_timestamps" : "greedy_notimestamps";
  const auto expected = s.ref.load_i32(key);
  const float logprob = s.ref.load_f32(key + "_logprob")[0];
  const float no_speech = s.ref.load_f32(key + "_no_speech_prob")[0];
  const DecodingResult r = s.decoding->decode(fixture_options(timestamps));
  EXPECT_EQ(r.tokens, expected);
  EXPECT_NEAR(r.avg_logprob, logprob, 1e-4);
  EXPECT_NEAR(r.no_speech_prob, no_speech, 1e-4);
  std::printf("[%s %s] avg_logprob %.7f (ref %.7f, |d| %.2g), no_speech %.3g (ref %.3g)\n",
              name.c_str(), key.c_str(), r.avg_logprob, logprob, std::fabs(r.avg_logprob - logprob),
              r.no_speech_prob, no_speech);
}

TEST(WhisperDecoding, TinyGreedyNoTimestamps) {
  check_greedy("tiny-random", false);
}
TEST(WhisperDecoding, TinyGreedyTimestamps) {
  check_greedy("tiny-random", true);
}
TEST(WhisperDecoding, V3GreedyNoTimestamps) {
  check_greedy("v3-random", false);
}
TEST(WhisperDecoding, V3GreedyTimestamps) {
  check_greedy("v3-random", true);
}

// The list suppressed every step equals openai's for suppress_tokens="-1".
TEST(WhisperDecoding, SuppressListMatchesReference) {
  for (const char* name : {"tiny-random", "v3-random"}) {
    rt::MemoryBudget budget(512u << 20);
    auto model = WhisperModel::load(model_dir(name), budget);
    const auto expected = refs(name).load_i32("suppress_tokens");
    std::set<int> got(model->config.suppress_tokens.begin(), model->config.suppress_tokens.end());
    const auto& ids = model->tokens;
    for (int t : {ids.transcribe, ids.translate, ids.sot, ids.sot_prev, ids.sot_lm, ids.no_speech})
      got.insert(t);
    EXPECT_EQ(std::vector<int>(got.begin(), got.end()), expected) << name;
  }
}

// Timestamp rules on hand-made logits: first token must be a timestamp <= 1.0 s, pairs.
TEST(WhisperLogitFilters, TimestampRules) {
  const auto ids = SpecialTokenIds::for_vocab(51865);
  LogitFilters f;
  f.ids = ids;
  f.sample_begin = 3;
  f.blank_tokens = {220, ids.eot};
  f.timestamps = true;
  f.max_initial_timestamp_index = 50;
  std::vector<float> logits(51865, 0.0f), scratch(51865);
  logits[100] = 50.0f;  // a text token that would win
  std::vector<int> tokens{ids.sot, ids.first_language, ids.transcribe};
  f.apply(tokens, logits, scratch);
  EXPECT_TRUE(std::isinf(logits[100]));
  EXPECT_FALSE(std::isinf(logits[ids.timestamp_begin + 50]));
  EXPECT_TRUE(std::isinf(logits[ids.timestamp_begin + 51]));
  EXPECT_TRUE(std::isinf(logits[220]));
  // After <|0.50|> text: the next timestamp must be > 0.50, text allowed.
  std::fill(logits.begin(), logits.end(), 0.0f);
  tokens.push_back(ids.timestamp_begin + 25);
  tokens.push_back(1000);
  f.apply(tokens, logits, scratch);
  EXPECT_TRUE(std::isinf(logits[ids.timestamp_begin + 25]));
  EXPECT_FALSE(std::isinf(logits[ids.timestamp_begin + 26]));
  // After a lone closing timestamp: no text may follow directly, EOT or a timestamp may.
  tokens.push_back(ids.timestamp_begin + 40);
  std::fill(logits.begin(), logits.end(), 0.0f);
  logits[ids.eot] = 10.0f;  // likelier than all timestamps together, so text is not masked
  f.apply(tokens, logits, scratch);
  EXPECT_TRUE(std::isinf(logits[1000]));
  EXPECT_FALSE(std::isinf(logits[ids.eot]));
  EXPECT_FALSE(std::isinf(logits[ids.timestamp_begin + 40]));
  // After a pair: text only.
  tokens.push_back(ids.timestamp_begin + 40);
  std::fill(logits.begin(), logits.end(), 0.0f);
  logits[1000] = 10.0f;
  f.apply(tokens, logits, scratch);
  EXPECT_TRUE(std::isinf(logits[ids.timestamp_begin + 45]));
  EXPECT_FALSE(std::isinf(logits[1000]));
  // Timestamps together likelier than any text token: text is masked.
  tokens.push_back(1000);
  std::fill(logits.begin(), logits.end(), 0.0f);
  f.apply(tokens, logits, scratch);
  EXPECT_TRUE(std::isinf(logits[1000]));
  EXPECT_FALSE(std::isinf(logits[ids.timestamp_begin + 45]));
}

TEST(WhisperDecoding, CompressionRatioIsZlibs) {
  // 100 repeats of "ab" compress to a handful of bytes; random-ish text barely compresses.
  std::string rep;
  for (int i = 0; i < 100; ++i) rep += "ab";
  EXPECT_GT(compression_ratio(rep), 10.0);
  EXPECT_LT(compression_ratio("The quick brown fox"), 1.0);
}

}  // namespace
}  // namespace earshot::models::whisper
