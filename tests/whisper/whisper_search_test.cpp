// Language detection, prompt conditioning and beam search. The fixture has no beam or prompt
// decode, so these are checked against a cache-free re-scoring: every chosen sequence is fed
// through a fresh full causal forward, the logit filters re-applied, and the log-probabilities
// summed; they must equal what the incremental (cached, rearranged) search reported.
#include "models/whisper/whisper_decoding.hpp"
#include "tests/whisper/whisper_test_util.hpp"

#include <gtest/gtest.h>

#include <cmath>

namespace earshot::models::whisper {
namespace {
using namespace earshot::test::whisper;

struct Session {
  rt::MemoryBudget budget{512u << 20};
  std::unique_ptr<WhisperModel> model;
  std::unique_ptr<WhisperDecoding> decoding;
  std::vector<float> features;
  SafetensorsFile ref;

  explicit Session(const std::string& name) : ref(refs(name)) {
    model = WhisperModel::load(model_dir(name), budget);
    features = ref.load_f32("encoder_out");
    decoding = std::make_unique<WhisperDecoding>(*model, budget, 5);
    decoding->set_audio(features.data());
  }

  LogitFilters filters(int sample_begin, bool timestamps) const {
    LogitFilters f;
    f.ids = model->tokens;
    f.sample_begin = sample_begin;
    f.blank_tokens = {220, model->tokens.eot};
    const auto s = ref.load_i32("suppress_tokens");
    f.suppress_tokens.assign(s.begin(), s.end());
    f.timestamps = timestamps;
    f.max_initial_timestamp_index = 50;
    return f;
  }

  // Sum of the filtered log-probabilities of `sampled` after `initial`, from one full forward;
  // also counts the steps where the token was not the filtered argmax.
  double rescore(const std::vector<int>& initial, const std::vector<int>& sampled, bool timestamps,
                 int& non_argmax) {
    WhisperDecoder decoder(*model, budget, 1);
    decoder.set_audio(features.data());
    std::vector<int> all(initial);
    all.insert(all.end(), sampled.begin(), sampled.end());
    const int V = model->config.n_vocab;
    const int n = static_cast<int>(all.size());
    const float* hidden = decoder.forward(0, all.data(), n);
    std::vector<float> logits(static_cast<std::size_t>(V)), lp(static_cast<std::size_t>(V));
    const auto f = filters(static_cast<int>(initial.size()), timestamps);
    double sum = 0.0;
    non_argmax = 0;
    for (std::size_t i = 0; i < sampled.size(); ++i) {
      const std::size_t row = initial.size() - 1 + i;
      decoder.logits(hidden + row * model->config.d_model, 1, logits.data());
      f.apply(std::span<const int>(all).first(row + 1), logits, lp);
      log_softmax(logits, lp);
      sum += lp[static_cast<std::size_t>(sampled[i])];
      if (std::max_element(logits.begin(), logits.end()) - logits.begin() != sampled[i])
        ++non_argmax;
    }
    return sum;
  }
};

// Language probabilities are the softmax of the logits at <|startoftranscript|> over the
// language tokens: the fixture's teacher-forced logits row 0 is exactly that position.
TEST(WhisperLanguage, DetectionMatchesReferenceLogits) {
  for (const char* name : {"tiny-random", "v3-random"}) {
    Session s(name);
    const auto probs = s.decoding->detect_language();
    const auto& ids = s.model->tokens;
    ASSERT_EQ(static_cast<int>(probs.size()), ids.num_languages);
    const auto logits = s.ref.load_f32("logits_forced");
    double m = -INFINITY, sum = 0.0, total = 0.0, worst = 0.0;
    for (int i = 0; i < ids.num_languages; ++i)
      m = std::max(m,
                   static_cast<double>(logits[static_cast<std::size_t>(ids.first_language + i)]));
    for (int i = 0; i < ids.num_languages; ++i)
      sum += std::exp(logits[static_cast<std::size_t>(ids.first_language + i)] - m);
    for (int i = 0; i < ids.num_languages; ++i) {
      const double want =
          std::exp(logits[static_cast<std::size_t>(ids.first_language + i)] - m) / sum;
      worst = std::max(worst, std::fabs(want - probs[static_cast<std::size_t>(i)].second));
      total += probs[static_cast<std::size_t>(i)].second;
    }
    EXPECT_LE(worst, 1e-4) << name;
    EXPECT_NEAR(total, 1.0, 1e-5);
    EXPECT_EQ(probs.front().first, "en");
    EXPECT_EQ(probs.back().first, ids.num_languages == 100 ? "yue" : "su");
    // decode() without a language uses the most probable one.
    DecodingOptions o;
    o.sample_len = 4;
    const auto r = s.decoding->decode(o);
    const auto best = std::max_element(probs.begin(), probs.end(),
                                       [](auto& a, auto& b) { return a.second < b.second; });
    EXPECT_EQ(r.language, best->first);
  }
}

// <|startofprev|> conditioning: the cached decode with a prompt equals a cache-free re-scoring,
// every token is the filtered argmax, and no_speech_prob is read at the sot position.
TEST(WhisperPrompt, PromptedGreedyDecodeIsConsistent) {
  Session s("tiny-random");
  const auto& ids = s.model->tokens;
  DecodingOptions o;
  o.language = "en";
  o.sample_len = 16;
  o.prompt = s.ref.load_i32("forced");  // " The quick brown fox ..." as previous text
  const auto r = s.decoding->decode(o);
  ASSERT_EQ(r.tokens.size(), 16u);
  std::vector<int> initial{ids.sot_prev};
  initial.insert(initial.end(), o.prompt.begin(), o.prompt.end());
  initial.insert(initial.end(), {ids.sot, ids.first_language, ids.transcribe});
  int non_argmax = 0;
  const double sum = s.rescore(initial, r.tokens, true, non_argmax);
  EXPECT_EQ(non_argmax, 0);
  EXPECT_NEAR(r.sum_logprob, sum, 1e-4);
  EXPECT_NEAR(r.avg_logprob, sum / 17.0, 1e-4);
  // The prompt changes the decode (the unprompted one is the fixture's).
  const auto unprompted = s.ref.load_i32("greedy_timestamps");
  EXPECT_NE(r.tokens, std::vector<int>(unprompted.begin(), unprompted.begin() + 16));
}

// Beam search (size 5, patience 1): the reported score of the chosen sequence equals the
// cache-free re-scoring (so the KV-cache forks/reorders are right), and it is at least as
// likely as the greedy sequence of the same length.
void check_beam(const std::string& name, bool timestamps) {
  Session s(name);
  const auto& ids = s.model->tokens;
  DecodingOptions o;
  o.language = "en";
  o.sample_len = 24;
  o.without_timestamps = !timestamps;
  const auto greedy = s.decoding->decode(o);
  o.beam_size = 5;
  const auto beam = s.decoding->decode(o);
  std::vector<int> initial = ids.sot_sequence(ids.first_language, false);
  if (!timestamps) initial.push_back(ids.no_timestamps);
  int non_argmax = 0;
  const double sum = s.rescore(initial, beam.tokens, timestamps, non_argmax);
  EXPECT_NEAR(beam.sum_logprob, sum, 1e-3) << name;
  EXPECT_NEAR(beam.avg_logprob, beam.sum_logprob / static_cast<float>(beam.tokens.size() + 1),
              1e-6);
  EXPECT_NEAR(beam.no_speech_prob, greedy.no_speech_prob, 1e-7);
  if (beam.tokens.size() == greedy.tokens.size()) {
    EXPECT_GE(beam.sum_logprob, greedy.sum_logprob - 1e-4) << name;
  }
  std::printf("[%s beam5 %s] avg_logprob %.4f vs greedy %.4f, %zu tokens\n", name.c_str(),
              timestamps ? "timestamps" : "notimestamps", beam.avg_logprob, greedy.avg_logprob,
              beam.tokens.size());
}

TEST(WhisperBeamSearch, TinyNoTimestamps) {
  check_beam("tiny-random", false);
}
TEST(WhisperBeamSearch, TinyTimestamps) {
  check_beam("tiny-random", true);
}
TEST(WhisperBeamSearch, V3Timestamps) {
  check_beam("v3-random", true);
}

TEST(WhisperSampling, TemperatureSamplingIsSeededAndScored) {
  Session s("tiny-random");
  DecodingOptions o;
  o.language = "en";
  o.sample_len = 12;
  o.temperature = 1.0f;
  o.best_of = 3;
  o.seed = 42;
  const auto a = s.decoding->decode(o);
  const auto b = s.decoding->decode(o);
  EXPECT_EQ(a.tokens, b.tokens);  // same seed, same samples
  EXPECT_FLOAT_EQ(a.temperature, 1.0f);
  std::vector<int> initial = s.model->tokens.sot_sequence(s.model->tokens.first_language, false);
  int non_argmax = 0;
  EXPECT_NEAR(a.sum_logprob, s.rescore(initial, a.tokens, true, non_argmax), 1e-3);
}

}  // namespace
}  // namespace earshot::models::whisper
