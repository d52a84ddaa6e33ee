// EnCodec 48 kHz (stereo, non-causal, time_group_norm, 1 s chunks with 1% overlap, per-chunk
// loudness normalisation) against transformers' outputs on 48khz-random.
#include "tests/encodec/fixture_util.hpp"

#include <gtest/gtest.h>

namespace earshot::encodec::test {
namespace {

constexpr std::int64_t kLength = 95520;  // the feature extractor's padded input
constexpr std::int64_t kRefFrames = 150;
constexpr int kHidden = 8;
constexpr int kChunks = 3;

struct Fixture48 : ::testing::Test {
  rt::MemoryBudget budget{256u << 20};
  EncodecModel model = EncodecModel::load(model_dir("48khz-random"), budget);
  models::SafetensorsFile ref = reference("48khz-random");
  std::vector<float> audio = to_time_major(ref.load_f32("audio"), 2, kLength);
  std::int64_t pad_frames = ref.load_i32("last_frame_pad_length").at(0);
  // Frames of chunk i that are real (the reference pads the last chunk's codes with zeros).
  std::int64_t real_frames(int i) const {
    return i == kChunks - 1 ? kRefFrames - pad_frames : kRefFrames;
  }
};

TEST_F(Fixture48, ChunkingAsTheReference) {
  const auto spans = model.chunk_spans(kLength);
  ASSERT_EQ(spans.size(), 3u);
  EXPECT_EQ(spans[0].offset, 0);
  EXPECT_EQ(spans[0].length, 48000);
  EXPECT_EQ(spans[1].offset, 47520);
  EXPECT_EQ(spans[1].length, 48000);
  EXPECT_EQ(spans[2].offset, 95040);
  EXPECT_EQ(spans[2].length, 480);
  EXPECT_EQ(pad_frames, 148);
  EXPECT_EQ(model.config().frame_rate(), 150);
  EXPECT_EQ(model.config().quantizers_for_bandwidth(3.0), 2);
  EXPECT_EQ(model.config().quantizers_for_bandwidth(24.0), 16);
}

TEST_F(Fixture48, ScalesAndEncoderOutputMatchPerChunk) {
  const auto scales = ref.load_f32("scales");
  const auto enc_ref = ref.load_f32("encoder_out");
  const auto spans = model.chunk_spans(kLength);
  for (int i = 0; i < kChunks; ++i) {
    float scale = 0;
    const auto emb =
        model.encode_chunk_embeddings(audio.data() + spans[i].offset * 2, spans[i].length, &scale);
    EXPECT_NEAR(scale, scales[i], 1e-6 * scales[i]) << "chunk " << i;
    const std::int64_t frames = real_frames(i);
    ASSERT_EQ(static_cast<std::int64_t>(emb.size()), frames * kHidden) << "chunk " << i;
    const auto expected =
        to_time_major(std::vector<float>(enc_ref.begin() + i * kHidden * kRefFrames,
                                         enc_ref.begin() + (i + 1) * kHidden * kRefFrames),
                      kHidden, kRefFrames);
    const float err = max_abs_diff(
        emb, std::vector<float>(expected.begin(), expected.begin() + frames * kHidden));
    std::printf("48 kHz chunk %d: scale %.9g (ref %.9g), encoder_out max |diff| %.3g (tol 1e-4)\n",
                i, scale, scales[i], err);
    EXPECT_LE(err, 1e-4f);
  }
}

TEST_F(Fixture48, CodesMatchAtEveryStoredBandwidth) {
  const auto margin = ref.load_f32("codes_margin");
  for (const auto& [name, n_q] : std::vector<std::pair<std::string, int>>{
           {"codes_3kbps", 2}, {"codes_6kbps", 4}, {"codes_24kbps", 16}}) {
    const auto expected = ref.load_i32(name);
    ASSERT_EQ(static_cast<std::int64_t>(expected.size()), kChunks * n_q * kRefFrames);
    const auto encoded = model.encode(audio.data(), kLength, n_q);
    ASSERT_EQ(encoded.chunks.size(), static_cast<std::size_t>(kChunks));
    int exact = 0, excused = 0, failures = 0;
    for (int i = 0; i < kChunks; ++i) {
      const auto& chunk = encoded.chunks[i];
      ASSERT_EQ(chunk.frames, real_frames(i));
      const auto cmp = compare_codes(chunk.codes.data(), expected.data() + i * n_q * kRefFrames,
                                     margin.data() + i * 16 * kRefFrames, n_q, chunk.frames,
                                     kRefFrames, kRefFrames);
      exact += cmp.exact;
      excused += cmp.excused;
      failures += cmp.failures;
      EXPECT_EQ(cmp.failures, 0) << name << " chunk " << i << ": " << cmp.first_failure;
      // The reference pads the last chunk with code 0.
      for (int q = 0; q < n_q; ++q) {
        for (std::int64_t f = chunk.frames; f < kRefFrames; ++f) {
          EXPECT_EQ(expected[(i * n_q + q) * kRefFrames + f], 0);
        }
      }
    }
    std::printf("48 kHz %s: %d exact, %d excused near-tie, %d wrong\n", name.c_str(), exact,
                excused, failures);
  }
}

TEST_F(Fixture48, QuantizedAndDecodedAudioMatchFromReferenceCodes) {
  const auto scales = ref.load_f32("scales");
  for (const auto& [kbps, n_q] :
       std::vector<std::pair<std::string, int>>{{"3kbps", 2}, {"6kbps", 4}}) {
    const auto codes = ref.load_i32("codes_" + kbps);
    const auto quantized_ref = ref.load_f32("quantized_" + kbps);
    EncodedAudio encoded;
    encoded.n_q = n_q;
    encoded.audio_length = kLength;
    float q_err = 0;
    for (int i = 0; i < kChunks; ++i) {
      CodeChunk chunk;
      chunk.frames = real_frames(i);
      chunk.scale = scales[i];
      for (int q = 0; q < n_q; ++q) {
        const auto* row = codes.data() + (i * n_q + q) * kRefFrames;
        chunk.codes.insert(chunk.codes.end(), row, row + chunk.frames);
      }
      std::vector<float> quantized(chunk.frames * kHidden);
      model.quantizer().decode(chunk.codes.data(), n_q, chunk.frames, quantized.data());
      const auto expected =
          to_time_major(std::vector<float>(quantized_ref.begin() + i * kHidden * kRefFrames,
                                           quantized_ref.begin() + (i + 1) * kHidden * kRefFrames),
                        kHidden, kRefFrames);
      q_err = std::max(q_err, max_abs_diff(quantized, expected));
      encoded.chunks.push_back(std::move(chunk));
    }
    const auto decoded = model.decode(encoded);
    ASSERT_EQ(static_cast<std::int64_t>(decoded.size()), kLength * 2);
    const float d_err =
        max_abs_diff(decoded, to_time_major(ref.load_f32("decoded_" + kbps), 2, kLength));
    std::printf("48 kHz %s: quantized max |diff| %.3g (tol 1e-6), decoded %.3g (tol 1e-4)\n",
                kbps.c_str(), q_err, d_err);
    EXPECT_LE(q_err, 1e-6f);
    EXPECT_LE(d_err, 1e-4f);
  }
}

}  // namespace
}  // namespace earshot::encodec::test
