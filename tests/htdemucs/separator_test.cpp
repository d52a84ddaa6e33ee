// Chunked overlap-add separation of the fixture mixes against demucs' apply_model
// (`separated`, README tolerance: rel L2 <= 1e-4 and max-abs <= 1e-4), fed in awkward pieces
// to exercise the streaming bookkeeping; plus the htdemucs_ft-style bag layout.
#include "models/htdemucs/separator.hpp"
#include "models/core/json_file.hpp"
#include "rt/thread_team.hpp"
#include "tests/htdemucs/htdemucs_test_util.hpp"
#include "tests/htdemucs/model_dir.hpp"

#include <gtest/gtest.h>

#include <unistd.h>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <vector>

namespace earshot::htdemucs {
namespace {

// Runs the separator over the reference mix, pushing `piece` frames at a time, and returns
// [S][C][T] planar stems.
std::vector<float> separate(ModelBag& bag, const std::vector<float>& mix, std::int64_t T,
                            std::int64_t piece, rt::MemoryBudget& budget,
                            bool length_known = true) {
  const int C = bag.audio_channels(), S = bag.num_sources();
  ChunkedSeparator sep(bag, length_known ? T : ChunkedSeparator::kUnknownLength, {}, budget);
  std::vector<float> out(static_cast<std::size_t>(S) * C * T, NAN);
  std::vector<float> frames(static_cast<std::size_t>(piece) * C);
  std::int64_t read = 0, written = 0;
  while (!sep.done()) {
    if (!sep.ready()) {
      if (read == T) {  // end of a stream of unknown length
        sep.finish();
        continue;
      }
      const std::int64_t n = std::min({piece, sep.frames_wanted(), T - read});
      for (std::int64_t t = 0; t < n; ++t)
        for (int c = 0; c < C; ++c) frames[t * C + c] = mix[c * T + read + t];
      sep.push(frames.data(), n);
      read += n;
      continue;
    }
    const std::int64_t got = sep.process();
    EXPECT_EQ(sep.output_start(), written);
    for (int s = 0; s < S; ++s)
      for (int c = 0; c < C; ++c)
        std::copy(sep.output(s, c), sep.output(s, c) + got,
                  out.begin() + (static_cast<std::int64_t>(s) * C + c) * T + written);
    written += got;
  }
  EXPECT_EQ(read, T);
  EXPECT_EQ(written, T);
  return out;
}

void check_separated(const std::string& name, std::int64_t piece, bool length_known = true,
                     rt::Parallel* parallel = nullptr) {
  rt::MemoryBudget budget(512u << 20);
  ModelBag bag = ModelBag::load(test::model_dir(name), budget, parallel);
  const auto ref = test::reference(name);
  const auto mix = ref.load_f32("mix");
  const auto expected = ref.load_f32("separated");
  const auto T = static_cast<std::int64_t>(mix.size() / 2);
  const auto out = separate(bag, mix, T, piece, budget, length_known);
  const auto e = test::compare(out, expected);
  std::printf("%s separated (pieces of %lld%s) max-abs %.3g  rel-L2 %.3g\n", name.c_str(),
              static_cast<long long>(piece), length_known ? "" : ", length unknown", e.max_abs,
              e.rel_l2);
  EXPECT_LE(e.rel_l2, 1e-4);
  EXPECT_LE(e.max_abs, 1e-4);
}

TEST(HTDemucsSeparator, Small4MatchesApplyModel) {
  check_separated("small4", 4093);
}
TEST(HTDemucsSeparator, Small6MatchesApplyModel) {
  check_separated("small6", 100000);
}

TEST(HTDemucsSeparator, Small4MatchesApplyModelOnTwoThreads) {
  rt::ThreadTeam team(2);
  check_separated("small4", 4093, true, &team);
}

TEST(HTDemucsSeparator, StreamOfUnknownLength) {
  check_separated("small4", 777, false);
  check_separated("small6", 100000, false);
}

// apply_model(split=True, shifts=0) written out directly over whole-song buffers, for options
// the fixtures do not cover (the fixtures prove the default ones).
std::vector<float> naive_apply_model(HTDemucs& model, const std::vector<float>& mix, std::int64_t T,
                                     std::int64_t seg, double overlap) {
  const int S = model.num_sources(), C = model.audio_channels();
  const auto stride = static_cast<std::int64_t>((1.0 - overlap) * static_cast<double>(seg));
  std::vector<float> weight(seg);
  for (std::int64_t i = 0; i < seg; ++i)
    weight[i] =
        static_cast<float>(i < seg / 2 ? i + 1 : seg - i) / static_cast<float>(seg - seg / 2);
  std::vector<float> out(static_cast<std::size_t>(S) * C * T, 0.0f), sum_w(T, 0.0f);
  std::vector<float> chunk(static_cast<std::size_t>(C) * seg),
      res(static_cast<std::size_t>(S) * C * seg);
  for (std::int64_t off = 0; off < T; off += stride) {
    const std::int64_t len = std::min(seg, T - off), delta = seg - len, start = off - delta / 2;
    for (int c = 0; c < C; ++c)
      for (std::int64_t i = 0; i < seg; ++i) {
        const std::int64_t p = start + i;
        chunk[c * seg + i] = (p >= 0 && p < T) ? mix[c * T + p] : 0.0f;
      }
    model.forward(chunk.data(), seg, res.data());
    for (int r = 0; r < S * C; ++r)
      for (std::int64_t i = 0; i < len; ++i)
        out[r * T + off + i] += weight[i] * res[r * seg + delta / 2 + i];
    for (std::int64_t i = 0; i < len; ++i) sum_w[off + i] += weight[i];
  }
  for (int r = 0; r < S * C; ++r)
    for (std::int64_t t = 0; t < T; ++t) out[r * T + t] /= sum_w[t];
  return out;
}

TEST(HTDemucsSeparator, ShorterSegmentAndOtherOverlapMatchApplyModelSemantics) {
  rt::MemoryBudget budget(512u << 20);
  ModelBag bag = ModelBag::load(test::model_dir("small4"), budget);
  const auto ref = test::reference("small4");
  const auto mix = ref.load_f32("mix");
  const auto T = static_cast<std::int64_t>(mix.size() / 2);
  for (const auto& [seg, overlap] : {std::pair<std::int64_t, double>{30000, 0.3}}) {
    ChunkedSeparator sep(bag, ChunkedSeparator::kUnknownLength, {seg, overlap}, budget);
    std::vector<float> frames(2 * static_cast<std::size_t>(T));
    for (std::int64_t t = 0; t < T; ++t)
      for (int c = 0; c < 2; ++c) frames[t * 2 + c] = mix[c * T + t];
    std::vector<float> out(8 * static_cast<std::size_t>(T));
    std::int64_t read = 0, written = 0;
    while (!sep.done()) {
      if (sep.ready()) {
        const std::int64_t n = sep.process();
        for (int r = 0; r < 8; ++r)
          std::copy(sep.output(r / 2, r % 2), sep.output(r / 2, r % 2) + n,
                    out.begin() + r * T + written);
        written += n;
      } else if (read < T) {
        const std::int64_t n = std::min(sep.frames_wanted(), T - read);
        sep.push(frames.data() + 2 * read, n);
        read += n;
      } else {
        sep.finish();
      }
    }
    ASSERT_EQ(written, T);
    const auto expected = naive_apply_model(*bag.models[0], mix, T, seg, overlap);
    const auto e = test::compare(out, expected);
    std::printf("segment %lld overlap %.2f vs direct apply_model: max-abs %.3g\n",
                static_cast<long long>(seg), overlap, e.max_abs);
    EXPECT_EQ(e.max_abs, 0.0);
  }
}

TEST(HTDemucsSeparator, ChunkPlanMatchesReference) {
  // small4: L = 42997, T = 101430 -> stride 32247, 4 chunks, the last one 4689 samples long.
  rt::MemoryBudget budget(512u << 20);
  ModelBag bag = ModelBag::load(test::model_dir("small4"), budget);
  ChunkedSeparator sep(bag, 101430, {}, budget);
  EXPECT_EQ(sep.segment(), 42997);
  EXPECT_EQ(sep.stride(), 32247);
  EXPECT_EQ(sep.chunks(), 4);
  EXPECT_EQ(101430 - 3 * sep.stride(), 4689);
}

TEST(HTDemucsSeparator, RejectsBadOptions) {
  rt::MemoryBudget budget(512u << 20);
  ModelBag bag = ModelBag::load(test::model_dir("small4"), budget);
  EXPECT_THROW(ChunkedSeparator(bag, 1000, {bag.segment_length() + 1, 0.25}, budget),
               std::invalid_argument);
  EXPECT_THROW(ChunkedSeparator(bag, 1000, {0, 1.0}, budget), std::invalid_argument);
  EXPECT_THROW(ChunkedSeparator(bag, 0, {}, budget), std::invalid_argument);
}

TEST(HTDemucsSeparator, BagOfModelsWeightedPerSource) {
  // htdemucs_ft's layout: model directories plus per-model, per-source weights (htdemucs_ft:
  // four members, one-hot). Here two different members (small4, and small4 with F16-rounded
  // weights) with uneven weights: source 0 only from the first, source 1 only from the second,
  // the others weighted 2:1 and 1:1. The bag must give (sum_m w_m * sep_m) / sum_m w_m.
  namespace fs = std::filesystem;
  test::ModelDir rounded([](nlohmann::json&) {}, test::Weights::F16);
  const fs::path dir = fs::temp_directory_path() / ("earshot_bag_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir / "a");
  fs::create_directories(dir / "b");
  for (const char* f : {"config.json", "model.safetensors"}) {
    fs::create_symlink(fs::absolute(test::model_dir("small4")) / f, dir / "a" / f);
    fs::create_symlink(fs::path(rounded.str()) / f, dir / "b" / f);
  }
  std::ofstream(dir / "config.json")
      << R"({"bag": {"models": ["a", "b"], "weights": [[1,0,2,1],[0,1,1,1]]}})";
  const auto ref = test::reference("small4");
  const auto mix = ref.load_f32("mix");
  const auto T = static_cast<std::int64_t>(mix.size() / 2);
  {
    rt::MemoryBudget budget(1024u << 20);
    ModelBag bag = ModelBag::load(dir.string(), budget);
    ASSERT_EQ(bag.models.size(), 2u);
    ASSERT_TRUE(bag.is_bag);
    // The members run in turn and share one set of activation workspaces.
    EXPECT_EQ(bag.models[1]->workspace(), bag.models[0]->workspace());
    ModelBag a = ModelBag::load((dir / "a").string(), budget);
    ModelBag b = ModelBag::load((dir / "b").string(), budget);
    const auto out = separate(bag, mix, T, 50000, budget);
    const auto sep_a = separate(a, mix, T, 50000, budget);
    const auto sep_b = separate(b, mix, T, 50000, budget);
    const float wa[] = {1, 0, 2, 1}, wb[] = {0, 1, 1, 1};
    std::vector<float> expected(out.size());
    const std::size_t per_source = 2 * static_cast<std::size_t>(T);
    for (std::size_t i = 0; i < out.size(); ++i) {
      const std::size_t s = i / per_source;
      expected[i] = (wa[s] * sep_a[i] + wb[s] * sep_b[i]) / (wa[s] + wb[s]);
    }
    const auto e = test::compare(out, expected);
    std::printf(
        "bag of 2 (small4, F16-rounded small4) vs weighted sum: max-abs %.3g  rel-L2 %.3g\n",
        e.max_abs, e.rel_l2);
    EXPECT_LE(e.max_abs, 1e-6);
    // The members really differ, so the weighting is visible.
    EXPECT_GT(test::compare(sep_a, sep_b).rel_l2, 1e-4);
  }
  // A bag whose weights leave a source out is refused.
  std::ofstream(dir / "config.json") << R"({"bag": {"models": ["a"], "weights": [[1,1,1,0]]}})";
  rt::MemoryBudget budget(1024u << 20);
  EXPECT_THROW(ModelBag::load(dir.string(), budget), models::ConfigError);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace earshot::htdemucs
