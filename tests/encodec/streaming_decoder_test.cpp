// Streaming decode of the causal 24 kHz model: any split of the frames into pushes gives the
// offline decode of the whole sequence (within float rounding), without allocating per push.
#include "models/encodec/streaming_decoder.hpp"
#include "tests/encodec/fixture_util.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <random>

namespace earshot::encodec::test {
namespace {

struct Streaming : ::testing::Test {
  rt::MemoryBudget budget{256u << 20};
  EncodecModel model = EncodecModel::load(model_dir("24khz-random"), budget);
  models::SafetensorsFile ref = reference("24khz-random");
  static constexpr std::int64_t kFrames = 313;

  // Reference codes [n_q, frames] -> frame-major, first `frames` frames.
  std::vector<std::int32_t> frame_major(const std::string& name, int n_q, std::int64_t frames) {
    const auto codes = ref.load_i32(name);
    std::vector<std::int32_t> out(static_cast<std::size_t>(frames * n_q));
    for (std::int64_t f = 0; f < frames; ++f) {
      for (int q = 0; q < n_q; ++q) out[f * n_q + q] = codes[q * kFrames + f];
    }
    return out;
  }
  std::vector<float> offline(const std::vector<std::int32_t>& fm, int n_q, std::int64_t frames) {
    std::vector<std::int32_t> qm(fm.size());
    for (std::int64_t f = 0; f < frames; ++f) {
      for (int q = 0; q < n_q; ++q) qm[q * frames + f] = fm[f * n_q + q];
    }
    std::vector<float> emb(static_cast<std::size_t>(frames * model.quantizer().dim()));
    model.quantizer().decode(qm.data(), n_q, frames, emb.data());
    return model.decoder().forward(emb.data(), frames);
  }
};

TEST_F(Streaming, RandomSplitsEqualOfflineDecode) {
  const int n_q = 8;
  const auto codes = frame_major("codes_6kbps", n_q, kFrames);
  const auto expected = offline(codes, n_q, kFrames);
  ASSERT_EQ(static_cast<std::int64_t>(expected.size()), kFrames * 320);
  std::mt19937 rng(1234);
  for (int trial = 0; trial < 4; ++trial) {
    const std::int64_t max_push = trial == 0 ? 1 : std::uniform_int_distribution<int>(2, 40)(rng);
    StreamingDecoder stream(model, budget, n_q, max_push);
    std::vector<float> out(static_cast<std::size_t>(stream.max_output_samples()));
    std::vector<float> got;
    std::int64_t f = 0;
    while (f < kFrames) {
      const std::int64_t n = std::min<std::int64_t>(
          kFrames - f, std::uniform_int_distribution<std::int64_t>(1, max_push)(rng));
      const auto m = stream.push(codes.data() + f * n_q, n, out.data());
      got.insert(got.end(), out.begin(), out.begin() + m);
      f += n;
      // Nothing before the start delay; from then on all the audio of every frame received.
      const std::int64_t expected_total = f > stream.start_delay_frames() ? f * 320 : 0;
      EXPECT_EQ(static_cast<std::int64_t>(got.size()), expected_total) << "after " << f;
    }
    const auto m = stream.finish(out.data());
    got.insert(got.end(), out.begin(), out.begin() + m);
    ASSERT_EQ(got.size(), expected.size()) << "trial " << trial;
    const float err = max_abs_diff(got, expected);
    std::printf("streaming (max %lld frames/push) vs offline: max |diff| %.3g\n",
                static_cast<long long>(max_push), err);
    EXPECT_LE(err, 1e-5f);
  }
}

TEST_F(Streaming, ShortStreamsMatchTheReferencePaddingRule) {
  // Streams shorter than the first conv's reflect padding (7 frames) take the reference's
  // zero-extension path.
  const int n_q = 2;
  for (std::int64_t frames : {1, 3, 6, 7, 8}) {
    const auto codes = frame_major("codes_1_5kbps", n_q, frames);
    const auto expected = offline(codes, n_q, frames);
    StreamingDecoder stream(model, budget, n_q, 2);
    std::vector<float> out(static_cast<std::size_t>(stream.max_output_samples()));
    std::vector<float> got;
    for (std::int64_t f = 0; f < frames; f += 2) {
      const auto m =
          stream.push(codes.data() + f * n_q, std::min<std::int64_t>(2, frames - f), out.data());
      got.insert(got.end(), out.begin(), out.begin() + m);
    }
    const auto m = stream.finish(out.data());
    got.insert(got.end(), out.begin(), out.begin() + m);
    ASSERT_EQ(got.size(), expected.size()) << frames << " frames";
    EXPECT_LE(max_abs_diff(got, expected), 1e-5f) << frames << " frames";
  }
}

TEST_F(Streaming, MatchesTheReferenceDecodedAudio) {
  const int n_q = 2;
  const auto codes = frame_major("codes_1_5kbps", n_q, kFrames);
  StreamingDecoder stream(model, budget, n_q, 1);
  std::vector<float> out(static_cast<std::size_t>(stream.max_output_samples()));
  std::vector<float> got;
  std::vector<double> latency_us;
  for (std::int64_t f = 0; f < kFrames; ++f) {
    const auto t0 = std::chrono::steady_clock::now();
    const auto m = stream.push(codes.data() + f * n_q, 1, out.data());
    latency_us.push_back(
        std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
    got.insert(got.end(), out.begin(), out.begin() + m);
  }
  got.insert(got.end(), out.begin(), out.begin() + stream.finish(out.data()));
  got.resize(100000);  // the reference trims to the input length
  const float err = max_abs_diff(got, ref.load_f32("decoded_1_5kbps"));
  std::sort(latency_us.begin(), latency_us.end());
  std::printf(
      "streaming vs reference decoded_1_5kbps: max |diff| %.3g (tol 1e-4); per-frame "
      "latency p50 %.0f us, p99 %.0f us, max %.0f us (small fixture model)\n",
      err, latency_us[latency_us.size() / 2], latency_us[latency_us.size() * 99 / 100],
      latency_us.back());
  EXPECT_LE(err, 1e-4f);
}

TEST_F(Streaming, BadInputIsRefusedWithoutCorruptingState) {
  StreamingDecoder stream(model, budget, 2, 4);
  std::vector<float> out(static_cast<std::size_t>(stream.max_output_samples()));
  const std::int32_t bad[] = {0, 1024};
  EXPECT_THROW(stream.push(bad, 1, out.data()), std::out_of_range);
  const std::int32_t neg[] = {-1, 0};
  EXPECT_THROW(stream.push(neg, 1, out.data()), std::out_of_range);
  std::vector<std::int32_t> many(10 * 2, 0);
  EXPECT_THROW(stream.push(many.data(), 5, out.data()), std::invalid_argument);
  EXPECT_EQ(stream.frames_in(), 0);
  EXPECT_THROW(StreamingDecoder(model, budget, 33, 1), std::invalid_argument);
  rt::MemoryBudget b48{256u << 20};
  const auto m48 = EncodecModel::load(model_dir("48khz-random"), b48);
  EXPECT_THROW(StreamingDecoder(m48, b48, 2, 1), std::invalid_argument);
}

}  // namespace
}  // namespace earshot::encodec::test
