// Decoder logits against openai's teacher-forced logits (README: <= 5e-4; cross K/V stored F16
// and F32), and the KV cache:
// incremental decoding and beam rearrangement must give the full forward's logits.
#include "models/whisper/whisper_decoder.hpp"
#include "models/whisper/whisper_encoder.hpp"
#include "tests/whisper/whisper_test_util.hpp"

#include <gtest/gtest.h>

namespace earshot::models::whisper {
namespace {
using namespace earshot::test::whisper;

struct Fixture {
  rt::MemoryBudget budget{512u << 20};
  std::unique_ptr<WhisperModel> model;
  std::vector<int> tokens;      // prompt ++ forced
  std::vector<float> expected;  // logits_forced [16, n_vocab]
  std::vector<float> audio;     // encoder_out

  explicit Fixture(const std::string& name) {
    model = WhisperModel::load(model_dir(name), budget);
    const auto ref = refs(name);
    tokens = ref.load_i32("prompt");
    const auto forced = ref.load_i32("forced");
    tokens.insert(tokens.end(), forced.begin(), forced.end());
    expected = ref.load_f32("logits_forced");
    audio = ref.load_f32("encoder_out");
  }
  int vocab() const { return model->config.n_vocab; }
};

void check_forced_logits(const std::string& name, int threads = 1,
                         CrossKvPrecision kv = CrossKvPrecision::kF16) {
  Fixture f(name);
  ThreadTeam team(threads);
  WhisperDecoder decoder(*f.model, f.budget, 1, &team, kv);
  decoder.set_audio(f.audio.data());
  const int n = static_cast<int>(f.tokens.size());
  ASSERT_EQ(f.expected.size(), static_cast<std::size_t>(n) * f.vocab());
  const float* hidden = decoder.forward(0, f.tokens.data(), n);
  std::vector<float> logits(f.expected.size());
  decoder.logits(hidden, n, logits.data());
  const double err = max_abs_diff(logits, f.expected);
  std::printf("[%s, %d thread(s), cross K/V %s] logits_forced max |diff| = %.3g (tolerance 5e-4)\n",
              name.c_str(), threads, kv == CrossKvPrecision::kF16 ? "F16" : "F32", err);
  EXPECT_LE(err, 5e-4);
  // F16 cross K/V are the default only because they stay within a quarter of the tolerance
  // (measured 1.1e-4 / 9.5e-5); if this fails, the default must go back to F32.
  if (kv == CrossKvPrecision::kF16) {
    EXPECT_LE(err, 5e-4 / 4);
  }
}

TEST(WhisperDecoder, TinyRandomForcedLogits) {
  check_forced_logits("tiny-random");
}
TEST(WhisperDecoder, V3RandomForcedLogits) {
  check_forced_logits("v3-random");
}
TEST(WhisperDecoder, TinyRandomForcedLogitsCrossKvF32) {
  check_forced_logits("tiny-random", 1, CrossKvPrecision::kF32);
}
TEST(WhisperDecoder, V3RandomForcedLogitsCrossKvF32) {
  check_forced_logits("v3-random", 1, CrossKvPrecision::kF32);
}
TEST(WhisperDecoder, TinyForcedLogitsThreeThreads) {
  check_forced_logits("tiny-random", 3);
}
TEST(WhisperDecoder, V3ForcedLogitsThreeThreads) {
  check_forced_logits("v3-random", 3);
}

// Prompt in one call, then one token per call through the cache: every position's logits
// must equal the full causal forward's.
void check_incremental(const std::string& name) {
  Fixture f(name);
  WhisperDecoder decoder(*f.model, f.budget, 2);
  decoder.set_audio(f.audio.data());
  const int n = static_cast<int>(f.tokens.size());
  const int V = f.vocab();
  std::vector<float> full(static_cast<std::size_t>(n) * V);
  decoder.logits(decoder.forward(0, f.tokens.data(), n), n, full.data());

  std::vector<float> step(static_cast<std::size_t>(V));
  const int prompt = 4;
  std::vector<float> prompt_logits(static_cast<std::size_t>(prompt) * V);
  decoder.logits(decoder.forward(1, f.tokens.data(), prompt), prompt, prompt_logits.data());
  double err =
      max_abs_diff(prompt_logits, std::span<const float>(full).first(prompt_logits.size()));
  for (int i = prompt; i < n; ++i) {
    decoder.logits(decoder.forward(1, &f.tokens[static_cast<std::size_t>(i)], 1), 1, step.data());
    err = std::max(err, max_abs_diff(step, std::span<const float>(full).subspan(
                                               static_cast<std::size_t>(i) * V, V)));
  }
  EXPECT_EQ(decoder.length(1), n);
  std::printf("[%s] incremental vs full forward max |diff| = %.3g\n", name.c_str(), err);
  EXPECT_LE(err, 1e-4);
  // Still within the fixture's tolerance of the reference.
  EXPECT_LE(
      max_abs_diff(
          step, std::span<const float>(f.expected).subspan(static_cast<std::size_t>(n - 1) * V, V)),
      5e-4);
}

TEST(WhisperDecoder, TinyIncrementalMatchesFullForward) {
  check_incremental("tiny-random");
}
TEST(WhisperDecoder, V3IncrementalMatchesFullForward) {
  check_incremental("v3-random");
}

// Beams fork and are dropped: after rearrange, each sequence continues from its source's cache.
TEST(WhisperDecoder, RearrangeForksCaches) {
  Fixture f("tiny-random");
  const int V = f.vocab();
  WhisperDecoder decoder(*f.model, f.budget, 3);
  decoder.set_audio(f.audio.data());
  const int* t = f.tokens.data();
  decoder.forward(0, t, 5);         // seq 0: tokens 0..4
  decoder.forward(1, t, 3);         // seq 1: tokens 0..2
  decoder.forward(2, t + 1, 2);     // seq 2: unrelated
  const int source[3] = {1, 0, 0};  // new 0 <- old 1, new 1 and 2 <- old 0 (a fork)
  decoder.rearrange(source, 3);
  EXPECT_EQ(decoder.length(0), 3);
  EXPECT_EQ(decoder.length(1), 5);
  EXPECT_EQ(decoder.length(2), 5);
  // Continue each and compare with the full forward at that position.
  std::vector<float> full(static_cast<std::size_t>(6) * V), got(static_cast<std::size_t>(V));
  WhisperDecoder reference(*f.model, f.budget, 1);
  reference.set_audio(f.audio.data());
  reference.logits(reference.forward(0, t, 6), 6, full.data());
  const int seqs[3] = {0, 1, 2};
  const int next[3] = {t[3], t[5], t[5]};
  const float* hidden = decoder.forward(seqs, next, 3);
  const int expect_pos[3] = {3, 5, 5};
  for (int s = 0; s < 3; ++s) {
    decoder.logits(hidden + static_cast<std::size_t>(s) * f.model->config.d_model, 1, got.data());
    EXPECT_LE(max_abs_diff(got, std::span<const float>(full).subspan(
                                    static_cast<std::size_t>(expect_pos[s]) * V, V)),
              1e-4)
        << "sequence " << s;
  }
}

TEST(WhisperDecoder, RejectsOverflowAndBadIds) {
  Fixture f("tiny-random");
  WhisperDecoder decoder(*f.model, f.budget, 1);
  const int tok = 50258;
  EXPECT_THROW(decoder.forward(0, &tok, 1), std::logic_error);  // no audio yet
  decoder.set_audio(f.audio.data());
  const int bad = 60000;
  EXPECT_THROW(decoder.forward(0, &bad, 1), std::out_of_range);
  std::vector<int> many(448, 50258);
  decoder.forward(0, many.data(), 448);
  EXPECT_THROW(decoder.forward(0, &tok, 1), std::length_error);
}

}  // namespace
}  // namespace earshot::models::whisper
