// EnCodec 24 kHz (causal, weight norm) against transformers' outputs on 24khz-random.
#include "tests/encodec/fixture_util.hpp"

#include <gtest/gtest.h>

namespace earshot::encodec::test {
namespace {

constexpr std::int64_t kLength = 100000;
constexpr std::int64_t kFrames = 313;
constexpr int kHidden = 8;

struct Fixture24 : ::testing::Test {
  rt::MemoryBudget budget{256u << 20};
  EncodecModel model = EncodecModel::load(model_dir("24khz-random"), budget);
  models::SafetensorsFile ref = reference("24khz-random");
  std::vector<float> audio = ref.load_f32("audio");  // mono: already time-major
};

TEST_F(Fixture24, ConfigDerivedQuantities) {
  const auto& c = model.config();
  EXPECT_EQ(c.hop_length(), 320);
  EXPECT_EQ(c.frame_rate(), 75);
  EXPECT_EQ(c.num_quantizers(), 32);
  EXPECT_EQ(c.quantizers_for_bandwidth(1.5), 2);
  EXPECT_EQ(c.quantizers_for_bandwidth(6.0), 8);
  EXPECT_EQ(c.quantizers_for_bandwidth(24.0), 32);
  EXPECT_THROW(c.quantizers_for_bandwidth(5.0), std::invalid_argument);
  EXPECT_EQ(model.chunk_spans(kLength).size(), 1u);
}

TEST_F(Fixture24, NonFiniteAudioIsRefused) {
  auto bad = audio;
  bad[1234] = std::nanf("");
  EXPECT_THROW(model.encode(bad.data(), kLength, 2), std::invalid_argument);
  EXPECT_THROW(model.encode(audio.data(), 0, 2), std::invalid_argument);
  EXPECT_THROW(model.encode(audio.data(), kLength, 33), std::invalid_argument);
}

TEST_F(Fixture24, EncoderOutputMatches) {
  float scale = 0;
  const auto emb = model.encode_chunk_embeddings(audio.data(), kLength, &scale);
  ASSERT_EQ(static_cast<std::int64_t>(emb.size()), kFrames * kHidden);
  const auto expected = to_time_major(ref.load_f32("encoder_out"), kHidden, kFrames);
  const float err = max_abs_diff(emb, expected);
  RecordProperty("encoder_out_max_abs_err", std::to_string(err));
  std::printf("24 kHz encoder_out max |diff| = %.3g (tolerance 1e-4)\n", err);
  EXPECT_LE(err, 1e-4f);
}

}  // namespace
}  // namespace earshot::encodec::test

namespace earshot::encodec::test {
namespace {

// Quantizer teacher-forced: the reference encoder output and the reference codes form each
// stage's residual; every decision must match except the documented near-ties.
TEST_F(Fixture24, QuantizerTeacherForcedMatchesEveryClearDecision) {
  const auto enc = to_time_major(ref.load_f32("encoder_out"), kHidden, kFrames);
  const auto codes = ref.load_i32("codes_24kbps");
  const auto margin = ref.load_f32("codes_margin");
  const auto& rvq = model.quantizer();
  int checked = 0, near_ties = 0;
  for (std::int64_t f = 0; f < kFrames; ++f) {
    std::vector<float> r(enc.begin() + f * kHidden, enc.begin() + (f + 1) * kHidden);
    for (int q = 0; q < 32; ++q) {
      const int expected = codes[q * kFrames + f];
      const int got = rvq.nearest(q, r.data());
      if (margin[q * kFrames + f] < 1e-4f) {
        ++near_ties;
      } else {
        ++checked;
        EXPECT_EQ(got, expected) << "stage " << q << " frame " << f;
      }
      const float* e = rvq.codeword(q, expected);
      for (int d = 0; d < kHidden; ++d) r[d] -= e[d];
    }
  }
  std::printf("24 kHz teacher-forced: %d decisions checked, %d near-ties skipped\n", checked,
              near_ties);
  EXPECT_GT(checked, 9800);
}

TEST_F(Fixture24, CodesMatchAtEveryStoredBandwidth) {
  const auto margin = ref.load_f32("codes_margin");
  for (const auto& [name, n_q] : std::vector<std::pair<std::string, int>>{
           {"codes_1_5kbps", 2}, {"codes_6kbps", 8}, {"codes_24kbps", 32}}) {
    const auto expected = ref.load_i32(name);
    ASSERT_EQ(static_cast<std::int64_t>(expected.size()), n_q * kFrames);
    const auto encoded = model.encode(audio.data(), kLength, n_q);
    ASSERT_EQ(encoded.chunks.size(), 1u);
    ASSERT_EQ(encoded.chunks[0].frames, kFrames);
    const auto cmp = compare_codes(encoded.chunks[0].codes.data(), expected.data(), margin.data(),
                                   n_q, kFrames, kFrames, kFrames);
    std::printf("24 kHz %s: %d exact, %d excused near-tie, %d wrong\n", name.c_str(), cmp.exact,
                cmp.excused, cmp.failures);
    EXPECT_EQ(cmp.failures, 0) << name << " first: " << cmp.first_failure;
    EXPECT_LE(cmp.excused, 64) << name;
  }
}

TEST_F(Fixture24, QuantizedAndDecodedAudioMatchFromReferenceCodes) {
  for (const auto& [kbps, n_q] :
       std::vector<std::pair<std::string, int>>{{"1_5kbps", 2}, {"6kbps", 8}}) {
    CodeChunk chunk;
    chunk.frames = kFrames;
    chunk.codes = ref.load_i32("codes_" + kbps);
    std::vector<float> quantized(kFrames * kHidden);
    model.quantizer().decode(chunk.codes.data(), n_q, kFrames, quantized.data());
    const float q_err =
        max_abs_diff(quantized, to_time_major(ref.load_f32("quantized_" + kbps), kHidden, kFrames));
    EncodedAudio encoded;
    encoded.n_q = n_q;
    encoded.audio_length = kLength;
    encoded.chunks.push_back(chunk);
    const auto decoded = model.decode(encoded);
    ASSERT_EQ(static_cast<std::int64_t>(decoded.size()), kLength);
    const float d_err = max_abs_diff(decoded, ref.load_f32("decoded_" + kbps));
    std::printf("24 kHz %s: quantized max |diff| %.3g (tol 1e-6), decoded %.3g (tol 1e-4)\n",
                kbps.c_str(), q_err, d_err);
    EXPECT_LE(q_err, 1e-6f);
    EXPECT_LE(d_err, 1e-4f);
  }
}

}  // namespace
}  // namespace earshot::encodec::test
