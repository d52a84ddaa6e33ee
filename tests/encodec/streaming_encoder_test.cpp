// Streaming encode (24 kHz) and block encode (both models) give the offline encode's codes, for
// any split of the input, and the reference's codes under the fixtures' near-tie rule.
#include "models/encodec/streaming_encoder.hpp"
#include "models/encodec/block_encoder.hpp"
#include "rt/audio_thread_guard.hpp"
#include "tests/encodec/fixture_util.hpp"

#include <gtest/gtest.h>

#include <random>

namespace earshot::encodec::test {
namespace {

constexpr std::int64_t kLength = 100000;
constexpr std::int64_t kFrames = 313;

struct StreamEncode24 : ::testing::Test {
  rt::MemoryBudget budget{256u << 20};
  EncodecModel model = EncodecModel::load(model_dir("24khz-random"), budget);
  models::SafetensorsFile ref = reference("24khz-random");
  std::vector<float> audio = ref.load_f32("audio");

  // Streams audio[0, length) in pushes whose sizes come from `next_size`; returns [n_q, frames].
  template <typename NextSize>
  std::vector<std::int32_t> stream(std::int64_t length, int n_q, std::int64_t max_push,
                                   NextSize next_size) {
    StreamingEncoder enc(model, budget, n_q, max_push);
    std::vector<std::int32_t> frame_major;
    std::vector<std::int32_t> out(static_cast<std::size_t>(enc.max_frames_out() * n_q));
    for (std::int64_t t = 0; t < length;) {
      const std::int64_t n = std::min(next_size(), length - t);
      const std::int64_t f = enc.push(audio.data() + t, n, out.data());
      EXPECT_LE(f, enc.max_frames_out());
      frame_major.insert(frame_major.end(), out.begin(), out.begin() + f * n_q);
      t += n;
    }
    const std::int64_t f = enc.finish(out.data());
    frame_major.insert(frame_major.end(), out.begin(), out.begin() + f * n_q);
    const std::int64_t frames = static_cast<std::int64_t>(frame_major.size()) / n_q;
    EXPECT_EQ(frames, enc.frames_out());
    std::vector<std::int32_t> codes(frame_major.size());
    for (std::int64_t i = 0; i < frames; ++i) {
      for (int q = 0; q < n_q; ++q) codes[q * frames + i] = frame_major[i * n_q + q];
    }
    return codes;
  }
};

int count_differences(const std::vector<std::int32_t>& a, const std::vector<std::int32_t>& b) {
  int d = 0;
  for (std::size_t i = 0; i < std::min(a.size(), b.size()); ++i) d += a[i] != b[i];
  return d;
}

TEST_F(StreamEncode24, AnySplitGivesTheOfflineAndReferenceCodes) {
  const auto margin = ref.load_f32("codes_margin");
  const auto expected = ref.load_i32("codes_24kbps");
  const auto offline = model.encode(audio.data(), kLength, 32).chunks.at(0).codes;
  // 6 kbps (8 codebooks) has no near-tie on this input: there streaming is exact for any split.
  const auto offline6 = model.encode(audio.data(), kLength, 8).chunks.at(0).codes;
  std::mt19937 rng(11);
  std::uniform_int_distribution<int> sizes(1, 4000);
  struct Split {
    const char* name;
    std::int64_t max_push;
    std::function<std::int64_t()> next;
  };
  const std::vector<Split> splits = {
      {"one push", kLength, [] { return kLength; }},
      {"320 per push", 320, [] { return std::int64_t{320}; }},
      {"random 1..4000", 4000, [&] { return std::int64_t{sizes(rng)}; }},
  };
  for (const auto& split : splits) {
    const auto codes = stream(kLength, 32, split.max_push, split.next);
    ASSERT_EQ(static_cast<std::int64_t>(codes.size()), 32 * kFrames) << split.name;
    const int vs_offline = count_differences(codes, offline);
    // Against the offline encode: the same decisions except where the reference itself marks a
    // near-tie (margin < 1e-4; the tiles of a streamed block round differently, ~1e-7).
    const auto cmp_offline =
        compare_codes(codes.data(), offline.data(), margin.data(), 32, kFrames, kFrames, kFrames);
    const auto cmp =
        compare_codes(codes.data(), expected.data(), margin.data(), 32, kFrames, kFrames, kFrames);
    std::printf(
        "streaming encode (%s), 24 kbps: %d codes differ from offline (all at near-ties: "
        "%s); vs reference %d exact, %d excused near-tie, %d wrong\n",
        split.name, vs_offline, cmp_offline.failures == 0 ? "yes" : "NO", cmp.exact, cmp.excused,
        cmp.failures);
    if (split.max_push == kLength) {
      EXPECT_EQ(vs_offline, 0) << split.name;
    }
    EXPECT_EQ(cmp_offline.failures, 0) << split.name << " first: " << cmp_offline.first_failure;
    EXPECT_EQ(cmp.failures, 0) << split.name << " first: " << cmp.first_failure;
    EXPECT_LE(cmp.excused, 64) << split.name;
    const auto codes6 = stream(kLength, 8, split.max_push, split.next);
    std::printf("streaming encode (%s), 6 kbps: %d codes differ from offline\n", split.name,
                count_differences(codes6, offline6));
    EXPECT_EQ(codes6, offline6) << split.name;
  }
}

TEST_F(StreamEncode24, ShortStreamsMatchOffline) {
  for (std::int64_t length : {1, 7, 319, 320, 1920, 1921, 1922, 2240, 2561, 5000}) {
    const auto offline = model.encode(audio.data() + 5000, length, 8).chunks.at(0).codes;
    std::vector<float> saved(audio.begin(), audio.end());
    std::copy(saved.begin() + 5000, saved.begin() + 5000 + length, audio.begin());
    const auto codes = stream(length, 8, 333, [] { return std::int64_t{333}; });
    audio = saved;
    EXPECT_EQ(codes, offline) << length << " samples";
  }
}

TEST_F(StreamEncode24, RefusesBadInputWithoutTouchingState) {
  StreamingEncoder enc(model, budget, 2, 1000);
  std::vector<std::int32_t> out(static_cast<std::size_t>(enc.max_frames_out() * 2));
  auto bad = audio;
  bad[10] = std::nanf("");
  EXPECT_THROW(enc.push(bad.data(), 1000, out.data()), std::invalid_argument);
  EXPECT_THROW(enc.push(audio.data(), 1001, out.data()), std::invalid_argument);
  EXPECT_EQ(enc.samples_in(), 0);
  EXPECT_THROW(StreamingEncoder(model, budget, 33, 100), std::invalid_argument);
  EXPECT_THROW(StreamingEncoder(model, budget, 2, 0), std::invalid_argument);
}

TEST_F(StreamEncode24, PushAndFinishNeitherAllocateNorLock) {
  StreamingEncoder enc(model, budget, 8, 960);
  std::vector<std::int32_t> out(static_cast<std::size_t>(enc.max_frames_out() * 8));
  std::int64_t frames = 0;
  ASSERT_TRUE(rt::guard::installed());
  rt::guard::reset();
  {
    rt::AudioThreadScope scope;
    for (std::int64_t t = 0; t < 48000; t += 960)
      frames += enc.push(audio.data() + t, 960, out.data());
    frames += enc.finish(out.data());
  }
  EXPECT_EQ(rt::guard::violations(), 0u) << rt::guard::first_violation_or_none();
  EXPECT_EQ(frames, 150);
}

TEST_F(StreamEncode24, BlockEncoderEqualsOfflineEncode) {
  const auto offline = model.encode(audio.data(), kLength, 8);
  BlockEncoder enc(model, budget, 8, 4096);
  for (std::int64_t t = 0; t < kLength; t += 4096)
    enc.push(audio.data() + t, std::min<std::int64_t>(4096, kLength - t));
  const auto got = enc.finish();
  EXPECT_EQ(got.n_q, 8);
  EXPECT_EQ(got.audio_length, kLength);
  ASSERT_EQ(got.chunks.size(), 1u);
  EXPECT_EQ(got.chunks[0].frames, kFrames);
  EXPECT_EQ(got.chunks[0].codes, offline.chunks[0].codes);
}

TEST(BlockEncode48, ChunksEqualOfflineEncode) {
  rt::MemoryBudget budget{256u << 20};
  const auto model = EncodecModel::load(model_dir("48khz-random"), budget);
  const auto ref = reference("48khz-random");
  const auto audio = to_time_major(ref.load_f32("audio"), 2, 95520);
  for (std::int64_t length :
       {std::int64_t{95520}, std::int64_t{91200}, std::int64_t{48000}, std::int64_t{30000}}) {
    const auto offline = model.encode(audio.data(), length, 16);
    BlockEncoder enc(model, budget, 16, 7001);
    for (std::int64_t t = 0; t < length; t += 7001) {
      enc.push(audio.data() + t * 2, std::min<std::int64_t>(7001, length - t));
    }
    const auto got = enc.finish();
    EXPECT_EQ(got.audio_length, length);
    ASSERT_EQ(got.chunks.size(), offline.chunks.size()) << length;
    for (std::size_t c = 0; c < got.chunks.size(); ++c) {
      EXPECT_EQ(got.chunks[c].frames, offline.chunks[c].frames) << length << " chunk " << c;
      EXPECT_EQ(got.chunks[c].scale, offline.chunks[c].scale) << length << " chunk " << c;
      EXPECT_EQ(got.chunks[c].codes, offline.chunks[c].codes) << length << " chunk " << c;
    }
  }
  BlockEncoder empty(model, budget, 2, 100);
  EXPECT_THROW(empty.finish(), std::invalid_argument);
}

}  // namespace
}  // namespace earshot::encodec::test
