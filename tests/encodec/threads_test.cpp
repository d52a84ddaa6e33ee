// Two threads give bitwise the single-thread result: products split in whole row tiles, the
// quantizer in whole frame tiles, transposed convolutions in input ranges whose two-term overlap
// sums do not depend on order.
#include "models/encodec/streaming_decoder.hpp"
#include "rt/thread_team.hpp"
#include "tests/encodec/fixture_util.hpp"

#include <gtest/gtest.h>

namespace earshot::encodec::test {
namespace {

TEST(EncodecThreads, EncodeAndDecodeAreBitwiseTheSameOnTwoThreads) {
  rt::MemoryBudget budget{256u << 20};
  rt::ThreadTeam team(2);
  for (const char* name : {"24khz-random", "48khz-random"}) {
    const auto model = EncodecModel::load(model_dir(name), budget);
    const auto ref = reference(name);
    const int ch = model.config().audio_channels;
    auto audio = ref.load_f32("audio");
    if (ch == 2) audio = to_time_major(audio, 2, static_cast<std::int64_t>(audio.size()) / 2);
    const std::int64_t length = static_cast<std::int64_t>(audio.size()) / ch;
    const int n_q = model.quantizer().num_quantizers();
    const auto one = model.encode(audio.data(), length, n_q);
    const auto two = model.encode(audio.data(), length, n_q, &team);
    ASSERT_EQ(one.chunks.size(), two.chunks.size());
    for (std::size_t c = 0; c < one.chunks.size(); ++c) {
      EXPECT_EQ(one.chunks[c].codes, two.chunks[c].codes) << name << " chunk " << c;
      EXPECT_EQ(one.chunks[c].scale, two.chunks[c].scale) << name << " chunk " << c;
    }
    float s1 = 0, s2 = 0;
    EXPECT_EQ(
        model.encode_chunk_embeddings(audio.data(), std::min<std::int64_t>(length, 48000), &s1),
        model.encode_chunk_embeddings(audio.data(), std::min<std::int64_t>(length, 48000), &s2,
                                      &team))
        << name;
    EXPECT_EQ(model.decode(one), model.decode(one, &team)) << name;
  }
}

TEST(EncodecThreads, StreamingDecodeIsBitwiseTheSameOnTwoThreads) {
  rt::MemoryBudget budget{256u << 20};
  rt::ThreadTeam team(2);
  const auto model = EncodecModel::load(model_dir("24khz-random"), budget);
  const auto codes = reference("24khz-random").load_i32("codes_6kbps");  // [8, 313]
  std::vector<std::int32_t> frame_major(313 * 8);
  for (int f = 0; f < 313; ++f) {
    for (int q = 0; q < 8; ++q) frame_major[f * 8 + q] = codes[q * 313 + f];
  }
  std::vector<float> outputs[2];
  for (int threads = 1; threads <= 2; ++threads) {
    StreamingDecoder dec(model, budget, 8, 40, threads == 2 ? &team : nullptr);
    std::vector<float> out(static_cast<std::size_t>(dec.max_output_samples()));
    for (int f = 0; f < 313; f += 40) {
      const auto n = dec.push(frame_major.data() + f * 8, std::min(40, 313 - f), out.data());
      outputs[threads - 1].insert(outputs[threads - 1].end(), out.begin(), out.begin() + n);
    }
    const auto n = dec.finish(out.data());
    outputs[threads - 1].insert(outputs[threads - 1].end(), out.begin(), out.begin() + n);
  }
  EXPECT_EQ(outputs[0].size(), 313u * 320u);
  EXPECT_EQ(outputs[0], outputs[1]);
}

}  // namespace
}  // namespace earshot::encodec::test
