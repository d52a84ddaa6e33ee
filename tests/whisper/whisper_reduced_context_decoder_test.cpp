// The decoder over a reduced audio context (WhisperDecoder/WhisperDecoding::set_audio(features,
// n_audio_ctx)). Guaranteed, and checked: the full context given explicitly is the old path bit
// for bit (and still decodes the fixture's greedy tokens); positions past the context are never
// read; a context larger than the model's is refused. Not guaranteed: the reduced context's
// tokens; their agreement with the full context on the fixture models, and the logit
// divergence, are measured and printed (the "quality cost" that can be measured without
// pretrained weights).
#include "models/whisper/whisper_decoding.hpp"
#include "models/whisper/whisper_encoder.hpp"
#include "tests/whisper/whisper_test_util.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <limits>

namespace earshot::models::whisper {
namespace {
using namespace earshot::test::whisper;

struct DecoderFixture {
  rt::MemoryBudget budget{768u << 20};
  std::unique_ptr<WhisperModel> model;
  std::vector<float> mel, features;  // reference mel [n_mels, 3000], encoder_out [1500, d]
  std::vector<int> forced;           // prompt ++ forced text
  std::vector<int> greedy_ts, greedy_nots;
  explicit DecoderFixture(const std::string& name) {
    model = WhisperModel::load(model_dir(name), budget);
    const auto ref = refs(name);
    mel = ref.load_f32("mel");
    features = ref.load_f32("encoder_out");
    forced = ref.load_i32("prompt");
    const auto text = ref.load_i32("forced");
    forced.insert(forced.end(), text.begin(), text.end());
    greedy_ts = ref.load_i32("greedy_timestamps");
    greedy_nots = ref.load_i32("greedy_notimestamps");
  }
  const WhisperConfig& c() const { return model->config; }
  int vocab() const { return c().n_vocab; }
  // Encoder output of the first 2 * positions mel frames (the reduced context).
  std::vector<float> reduced_features(WhisperEncoder& encoder, int positions) const {
    const int frames = 2 * positions;
    std::vector<float> m(static_cast<std::size_t>(c().n_mels) * frames);
    for (int b = 0; b < c().n_mels; ++b)
      std::copy_n(mel.begin() + static_cast<std::ptrdiff_t>(b) * 3000, frames,
                  m.begin() + static_cast<std::ptrdiff_t>(b) * frames);
    std::vector<float> out(static_cast<std::size_t>(positions) * c().d_model);
    encoder.forward(m.data(), c().n_mels, frames, out.data());
    return out;
  }
};

std::vector<float> forced_logits(WhisperDecoder& decoder, const DecoderFixture& f) {
  const int n = static_cast<int>(f.forced.size());
  std::vector<float> out(static_cast<std::size_t>(n) * f.vocab());
  decoder.logits(decoder.forward(0, f.forced.data(), n), n, out.data());
  return out;
}

DecodingOptions greedy(bool timestamps) {
  DecodingOptions o;
  o.language = "en";
  o.sample_len = 24;
  o.without_timestamps = !timestamps;
  return o;
}

class ReducedContextDecoder : public ::testing::TestWithParam<std::string> {};

TEST_P(ReducedContextDecoder, FullContextGivenExplicitlyIsTheOldPathBitForBit) {
  DecoderFixture f(GetParam());
  WhisperDecoder old_path(*f.model, f.budget), explicit_full(*f.model, f.budget);
  old_path.set_audio(f.features.data());
  explicit_full.set_audio(f.features.data(), f.c().n_audio_ctx);
  EXPECT_EQ(explicit_full.audio_ctx(), f.c().n_audio_ctx);
  const auto a = forced_logits(old_path, f);
  const auto b = forced_logits(explicit_full, f);
  EXPECT_EQ(0, std::memcmp(a.data(), b.data(), a.size() * sizeof(float)));

  WhisperDecoding decoding(*f.model, f.budget, 1);
  decoding.set_audio(f.features.data(), f.c().n_audio_ctx);
  EXPECT_EQ(decoding.decode(greedy(true)).tokens, f.greedy_ts);
  EXPECT_EQ(decoding.decode(greedy(false)).tokens, f.greedy_nots);
}

TEST_P(ReducedContextDecoder, PositionsPastTheContextAreNeverRead) {
  DecoderFixture f(GetParam());
  const int ctx = 200;
  const std::size_t kept = static_cast<std::size_t>(ctx) * f.c().d_model;
  std::vector<float> zeros = f.features, poison = f.features;
  std::fill(zeros.begin() + static_cast<std::ptrdiff_t>(kept), zeros.end(), 0.0f);
  std::fill(poison.begin() + static_cast<std::ptrdiff_t>(kept), poison.end(),
            std::numeric_limits<float>::quiet_NaN());
  WhisperDecoder decoder(*f.model, f.budget);
  decoder.set_audio(zeros.data(), ctx);
  EXPECT_EQ(decoder.audio_ctx(), ctx);
  const auto a = forced_logits(decoder, f);
  decoder.set_audio(poison.data(), ctx);
  const auto b = forced_logits(decoder, f);
  EXPECT_EQ(0, std::memcmp(a.data(), b.data(), a.size() * sizeof(float)));
  EXPECT_TRUE(std::all_of(b.begin(), b.end(), [](float v) { return std::isfinite(v); }));
  // ... and the context does matter: the full one gives other logits.
  decoder.set_audio(f.features.data());
  EXPECT_GT(max_abs_diff(forced_logits(decoder, f), a), 1e-3);
}

TEST_P(ReducedContextDecoder, ContextLargerThanTheModelsIsRefused) {
  DecoderFixture f(GetParam());
  WhisperDecoder decoder(*f.model, f.budget);
  EXPECT_THROW(decoder.set_audio(f.features.data(), f.c().n_audio_ctx + 1), std::invalid_argument);
  WhisperDecoding decoding(*f.model, f.budget, 1);
  EXPECT_THROW(decoding.set_audio(f.features.data(), 100000), std::invalid_argument);
}

// The measurable quality cost on the fixture models: greedy tokens (24, no timestamps) and
// teacher-forced logits with the encoder and decoder on the first `positions` of the fixture
// mel, against the full context. Random weights: the numbers say how far a reduced context
// moves the model's outputs, not what it costs in word error rate on real speech.
TEST_P(ReducedContextDecoder, MeasuredAgreementWithTheFullContext) {
  DecoderFixture f(GetParam());
  WhisperEncoder encoder(*f.model, f.budget);
  WhisperDecoder decoder(*f.model, f.budget);
  WhisperDecoding decoding(*f.model, f.budget, 1);
  decoder.set_audio(f.features.data());
  const auto full_logits = forced_logits(decoder, f);
  const int V = f.vocab();
  const int rows = static_cast<int>(f.forced.size());
  // The fixture speech lasts 6.78 s = 339 positions; 1500 closes the loop on the fixture.
  for (int positions : {384, 448, 512, 768, 1024, 1500}) {
    const auto features = f.reduced_features(encoder, positions);
    decoder.set_audio(features.data(), positions);
    const auto logits = forced_logits(decoder, f);
    // Mean KL(full || reduced) over the forced positions, and argmax agreement.
    double kl = 0.0;
    int same_argmax = 0;
    for (int r = 0; r < rows; ++r) {
      const float* p = full_logits.data() + static_cast<std::size_t>(r) * V;
      const float* q = logits.data() + static_cast<std::size_t>(r) * V;
      const double mp = *std::max_element(p, p + V), mq = *std::max_element(q, q + V);
      double zp = 0.0, zq = 0.0;
      for (int i = 0; i < V; ++i) {
        zp += std::exp(p[i] - mp);
        zq += std::exp(q[i] - mq);
      }
      for (int i = 0; i < V; ++i) {
        const double lp = p[i] - mp - std::log(zp), lq = q[i] - mq - std::log(zq);
        kl += std::exp(lp) * (lp - lq);
      }
      same_argmax += (std::max_element(p, p + V) - p) == (std::max_element(q, q + V) - q);
    }
    kl /= rows;
    decoding.set_audio(features.data(), positions);
    const auto tokens = decoding.decode(greedy(false)).tokens;
    std::size_t agree = 0, prefix = 0;
    for (std::size_t i = 0; i < tokens.size() && i < f.greedy_nots.size(); ++i)
      agree += tokens[i] == f.greedy_nots[i];
    while (prefix < tokens.size() && prefix < f.greedy_nots.size() &&
           tokens[prefix] == f.greedy_nots[prefix])
      ++prefix;
    std::printf(
        "[%s] audio_ctx %4d (%5.2f s): greedy tokens agree %2zu/24 (common prefix %2zu), forced "
        "argmax %2d/%d, mean KL %.4f, max |logit diff| %.3g\n",
        GetParam().c_str(), positions, positions * 0.02, agree, prefix, same_argmax, rows, kl,
        max_abs_diff(logits, full_logits));
    EXPECT_TRUE(std::isfinite(kl));
    EXPECT_EQ(tokens.size(), 24u) << "random weights never stop early";
    if (positions == f.c().n_audio_ctx) {
      // The encoder's full-context output matches the reference within 1e-4 only, so the
      // full-context run is compared with the fixture's greedy tokens (exact by the README).
      EXPECT_EQ(tokens, f.greedy_nots);
      EXPECT_LT(kl, 1e-6);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, ReducedContextDecoder,
                         ::testing::Values("tiny-random", "v3-random"), [](const auto& info) {
                           return info.param == "tiny-random" ? "tiny" : "v3";
                         });

}  // namespace
}  // namespace earshot::models::whisper
