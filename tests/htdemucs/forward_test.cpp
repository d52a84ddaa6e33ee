// One training-length segment through HTDemucs, stage by stage, against the PyTorch reference
// (../shared/fixtures/htdemucs, README tolerances: rel L2 <= 1e-4 for the debug tensors,
// rel L2 <= 1e-4 and max-abs <= 1e-4 for segment_out).
#include "models/htdemucs/htdemucs.hpp"
#include "rt/thread_team.hpp"
#include "tests/htdemucs/htdemucs_test_util.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <map>
#include <vector>

namespace earshot::htdemucs {
namespace {

using test::compare;

// Copies the tensors the reference has debug dumps for.
class Capture : public Probe {
 public:
  void tap(std::string_view stage, std::span<const float> data) override {
    seen[std::string(stage)] = std::vector<float>(data.begin(), data.end());
  }
  std::map<std::string, std::vector<float>> seen;
};

struct Case {
  const char* model;
  std::vector<std::pair<std::string, std::string>> debug;  // our stage -> reference tensor
  int threads = 0;                                         // 0: no team (the calling thread alone)
};

void run_segment(const Case& c) {
  rt::MemoryBudget budget(512u << 20);
  std::unique_ptr<rt::ThreadTeam> team;
  if (c.threads > 0) team = std::make_unique<rt::ThreadTeam>(c.threads);
  auto model = HTDemucs::load(test::model_dir(c.model), budget, "htdemucs", nullptr, team.get());
  EXPECT_EQ(model->threads(), std::max(c.threads, 1));
  const auto ref = test::reference(c.model);
  const auto in = ref.load_f32("segment_in");
  const auto expected = ref.load_f32("segment_out");
  ASSERT_EQ(static_cast<std::int64_t>(in.size()), 2 * model->segment_length());

  Capture capture;
  model->set_probe(&capture);
  std::vector<float> out(expected.size());
  model->forward(in.data(), model->segment_length(), out.data());

  for (const auto& [stage, name] : c.debug) {
    ASSERT_TRUE(capture.seen.count(stage)) << stage;
    const auto want = ref.load_f32(name);
    const auto e = compare(capture.seen[stage], want);
    std::printf("%s x%d %-22s max-abs %.3g  rel-L2 %.3g\n", c.model, c.threads, name.c_str(),
                e.max_abs, e.rel_l2);
    EXPECT_LE(e.rel_l2, 1e-4) << name;
  }
  const auto e = compare(out, expected);
  std::printf("%s x%d %-22s max-abs %.3g  rel-L2 %.3g\n", c.model, c.threads, "segment_out",
              e.max_abs, e.rel_l2);
  EXPECT_LE(e.rel_l2, 1e-4);
  EXPECT_LE(e.max_abs, 1e-4);
}

TEST(HTDemucsForward, Small4MatchesEveryStage) {
  run_segment({"small4",
               {{"z_cac", "dbg_z_cac"},
                {"enc0", "dbg_enc0_out"},
                {"tenc0", "dbg_tenc0_out"},
                {"xformer_in_freq", "dbg_xformer_in_freq"},
                {"xformer_in_time", "dbg_xformer_in_time"},
                {"xformer_out_freq", "dbg_xformer_out_freq"},
                {"xformer_out_time", "dbg_xformer_out_time"}}});
}

// The same stages with the work split across 1, 2 and 3 workers (3: uneven splits of every
// channel and column range).
TEST(HTDemucsForward, Small4MatchesEveryStageOnThreadTeams) {
  for (int threads : {1, 2, 3})
    run_segment({"small4",
                 {{"enc0", "dbg_enc0_out"},
                  {"tenc0", "dbg_tenc0_out"},
                  {"xformer_out_freq", "dbg_xformer_out_freq"},
                  {"xformer_out_time", "dbg_xformer_out_time"}},
                 threads});
}

// Work is claimed by whichever worker is free, but every chunk's boundaries are fixed: a repeated
// forward on a team gives bit-identical output, like the reference's repeated runs.
TEST(HTDemucsForward, RepeatedForwardOnATeamIsBitIdentical) {
  rt::MemoryBudget budget(512u << 20);
  rt::ThreadTeam team(3);
  auto model = HTDemucs::load(test::model_dir("small4"), budget, "htdemucs", nullptr, &team);
  const auto in = test::reference("small4").load_f32("segment_in");
  const std::int64_t L = model->segment_length();
  std::vector<float> first(static_cast<std::size_t>(model->num_sources()) * 2 * L);
  std::vector<float> again(first.size());
  model->forward(in.data(), L, first.data());
  for (int i = 0; i < 3; ++i) {
    model->forward(in.data(), L, again.data());
    ASSERT_EQ(again, first) << "repeat " << i;
  }
}

TEST(HTDemucsForward, Small6MatchesSegmentOutOnTwoThreads) {
  run_segment({"small6", {{"xformer_out_freq", "dbg_xformer_out_freq"}}, 2});
}

TEST(HTDemucsForward, Small6MatchesSegmentOut) {
  run_segment({"small6",
               {{"xformer_in_freq", "dbg_xformer_in_freq"},
                {"xformer_in_time", "dbg_xformer_in_time"},
                {"xformer_out_freq", "dbg_xformer_out_freq"},
                {"xformer_out_time", "dbg_xformer_out_time"}}});
}

}  // namespace
}  // namespace earshot::htdemucs
