// The decoder's opt-in F16 weight storage (EncodecModel::store_decoder_weights_f16): not exact, so
// its error against the reference decoded audio is measured and bounded here, separately from the
// float mode's fixture tolerance (1e-4, unchanged and tested in reference_24khz_test.cpp). The
// bound follows from the storage: rounding a weight to half changes it by at most 2^-11 (4.9e-4)
// relative; through the decoder's stack the audio (peak 1.3 here) moves by the same order of
// magnitude relative to its peak: bound 2e-3 absolute (0.15% of the peak; measured 5.8e-4, an
// error-to-signal RMS of 3.2e-4). Streaming in this mode still equals offline decode in it.
#include "models/encodec/streaming_decoder.hpp"
#include "tests/encodec/fixture_util.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

namespace earshot::encodec::test {
namespace {

constexpr std::int64_t kFrames = 313;
constexpr std::int64_t kLength = 100000;
constexpr float kF16Bound = 2e-3f;

TEST(F16Weights, DecodedAudioStaysNearTheReferenceAndStreamingEqualsOffline) {
  rt::MemoryBudget budget{256u << 20};
  auto model = EncodecModel::load(model_dir("24khz-random"), budget);
  const auto ref = reference("24khz-random");
  const std::size_t before = budget.active();
  model.store_decoder_weights_f16(budget);
  const auto& dec = model.decoder();
  ASSERT_TRUE(dec.streamed_weights_f16());
  EXPECT_TRUE(dec.first.weight.empty());
  EXPECT_TRUE(dec.stages[0].up.weight.empty());
  EXPECT_TRUE(dec.lstm.w_ih.empty());
  EXPECT_TRUE(dec.lstm.w_hh.empty());
  EXPECT_LT(budget.active(), before) << "the float copies are released";

  for (const auto& [kbps, n_q] :
       std::vector<std::pair<std::string, int>>{{"1_5kbps", 2}, {"6kbps", 8}}) {
    EncodedAudio encoded;
    encoded.n_q = n_q;
    encoded.audio_length = kLength;
    encoded.chunks.push_back(CodeChunk{kFrames, ref.load_i32("codes_" + kbps), 1.0f});
    const auto decoded = model.decode(encoded);
    ASSERT_EQ(static_cast<std::int64_t>(decoded.size()), kLength);
    const auto expected = ref.load_f32("decoded_" + kbps);
    const float err = max_abs_diff(decoded, expected);
    double sq = 0;
    double ref_sq = 0;
    for (std::size_t i = 0; i < decoded.size(); ++i) {
      sq += double(decoded[i] - expected[i]) * (decoded[i] - expected[i]);
      ref_sq += double(expected[i]) * expected[i];
    }
    std::printf(
        "F16 decoder weights, 24 kHz %s: decoded max |diff| %.3g (bound %.0e; float mode 1e-4), "
        "error/signal RMS %.3g\n",
        kbps.c_str(), err, kF16Bound, std::sqrt(sq / ref_sq));
    EXPECT_LE(err, kF16Bound);
  }

  // Streaming pushes of 1 and of random sizes give the offline decode of the same mode.
  const int n_q = 8;
  const auto codes = ref.load_i32("codes_6kbps");
  std::vector<std::int32_t> fm(static_cast<std::size_t>(kFrames * n_q));
  for (std::int64_t f = 0; f < kFrames; ++f) {
    for (int q = 0; q < n_q; ++q) fm[f * n_q + q] = codes[q * kFrames + f];
  }
  std::vector<float> emb(static_cast<std::size_t>(kFrames * model.quantizer().dim()));
  model.quantizer().decode(codes.data(), n_q, kFrames, emb.data());
  const auto offline = dec.forward(emb.data(), kFrames);
  std::mt19937 rng(5);
  for (std::int64_t max_push : {1, 13}) {
    StreamingDecoder stream(model, budget, n_q, max_push);
    std::vector<float> out(static_cast<std::size_t>(stream.max_output_samples()));
    std::vector<float> got;
    for (std::int64_t f = 0; f < kFrames;) {
      const std::int64_t n = std::min<std::int64_t>(
          kFrames - f, std::uniform_int_distribution<std::int64_t>(1, max_push)(rng));
      const auto m = stream.push(fm.data() + f * n_q, n, out.data());
      got.insert(got.end(), out.begin(), out.begin() + m);
      f += n;
    }
    got.insert(got.end(), out.begin(), out.begin() + stream.finish(out.data()));
    ASSERT_EQ(got.size(), offline.size());
    EXPECT_LE(max_abs_diff(got, offline), 1e-5f) << "max push " << max_push;
  }
}

TEST(F16Weights, The48kHzDecoderTakesItToo) {
  rt::MemoryBudget budget{256u << 20};
  auto model = EncodecModel::load(model_dir("48khz-random"), budget);
  const auto ref = reference("48khz-random");
  model.store_decoder_weights_f16(budget);
  const auto codes = ref.load_i32("codes_6kbps");  // [3, 1, 4, 150]
  const auto scales = ref.load_f32("scales");
  const std::int64_t pad_frames = ref.load_i32("last_frame_pad_length")[0];
  EncodedAudio encoded;
  encoded.n_q = 4;
  encoded.audio_length = 95520;
  for (int c = 0; c < 3; ++c) {
    CodeChunk chunk;
    chunk.frames = c == 2 ? 150 - pad_frames : 150;
    chunk.scale = scales[c];
    for (int q = 0; q < 4; ++q) {
      const auto* row = codes.data() + (c * 4 + q) * 150;
      chunk.codes.insert(chunk.codes.end(), row, row + chunk.frames);
    }
    encoded.chunks.push_back(std::move(chunk));
  }
  const auto decoded = model.decode(encoded);
  const auto expected = to_time_major(ref.load_f32("decoded_6kbps"), 2, 95520);
  ASSERT_EQ(decoded.size(), expected.size());
  const float err = max_abs_diff(decoded, expected);
  std::printf("F16 decoder weights, 48 kHz 6kbps: decoded max |diff| %.3g (bound %.0e)\n", err,
              kF16Bound);
  EXPECT_LE(err, kF16Bound);
}

}  // namespace
}  // namespace earshot::encodec::test
