// Local agreement, repetition-loop cutting and trimming on synthetic hypothesis sequences.
#include "nodes/caption/local_agreement.hpp"
#include "nodes/caption/ngram_loop.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace earshot::nodes::caption {
namespace {

// Tokens i at [t0 + 0.1 i, t0 + 0.1 (i + 1)); `segment_ends` marks tokens closing a segment.
std::vector<HypToken> hyp(std::vector<int> ids, double t0 = 0.0,
                          std::vector<std::size_t> segment_ends = {}) {
  std::vector<HypToken> h;
  for (std::size_t i = 0; i < ids.size(); ++i)
    h.push_back(
        {ids[i], t0 + 0.1 * static_cast<double>(i), t0 + 0.1 * static_cast<double>(i + 1), false});
  for (std::size_t e : segment_ends) h[e].ends_segment = true;
  return h;
}

std::vector<int> ids(std::span<const HypToken> t) {
  std::vector<int> out;
  for (const auto& x : t) out.push_back(x.id);
  return out;
}

TEST(LocalAgreement, FirstHypothesisIsOnlyPartial) {
  LocalAgreement a(64);
  const auto h = hyp({1, 2, 3});
  const auto u = a.update(h);
  EXPECT_TRUE(u.committed.empty());
  EXPECT_EQ(ids(u.partial), (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(a.committed_end(), -1.0);
}

TEST(LocalAgreement, CommitsLongestCommonPrefixOfConsecutiveHypotheses) {
  LocalAgreement a(64);
  a.update(hyp({1, 2, 3}));
  const auto h2 = hyp({1, 2, 4, 5});
  auto u = a.update(h2);
  EXPECT_EQ(ids(u.committed), (std::vector<int>{1, 2}));
  EXPECT_EQ(ids(u.partial), (std::vector<int>{4, 5}));
  EXPECT_NEAR(a.committed_end(), 0.2, 1e-9);
  // The next hypothesis repeats the committed prefix: it is skipped, and 4 5 6 vs 4 5 agree on 4 5.
  const auto h3 = hyp({1, 2, 4, 5, 6});
  u = a.update(h3);
  EXPECT_EQ(ids(u.committed), (std::vector<int>{4, 5}));
  EXPECT_EQ(ids(u.partial), (std::vector<int>{6}));
  EXPECT_EQ(ids(a.committed_in_buffer()), (std::vector<int>{1, 2, 4, 5}));
}

TEST(LocalAgreement, DisagreementCommitsNothing) {
  LocalAgreement a(64);
  a.update(hyp({1, 2, 3}));
  const auto u = a.update(hyp({7, 8, 9}));
  EXPECT_TRUE(u.committed.empty());
  EXPECT_EQ(ids(u.partial), (std::vector<int>{7, 8, 9}));
}

TEST(LocalAgreement, CommittedPrefixReadDifferentlyIsSkippedByTime) {
  LocalAgreement a(64);
  a.update(hyp({1, 2, 3, 4}));
  a.update(hyp({1, 2, 3, 9}));  // commits 1 2 3, ending at 0.3 s
  ASSERT_NEAR(a.committed_end(), 0.3, 1e-9);
  // The model now spells the committed audio as 11 12 13: skipped because it lies before 0.3 s;
  // 9 agrees with the previous partial.
  const auto u = a.update(hyp({11, 12, 13, 9, 10}));
  EXPECT_EQ(ids(u.committed), (std::vector<int>{9}));
  EXPECT_EQ(ids(u.partial), (std::vector<int>{10}));
}

TEST(LocalAgreement, CommitTimesAreMonotonic) {
  LocalAgreement a(64);
  a.update(hyp({1, 2}, 1.0));
  a.update(hyp({1, 2, 3}, 1.0));  // commits 1 2 ending at 1.2
  // A hypothesis whose timestamps jumped backwards: 3 agrees, but may not end before 1.2 s.
  auto h = hyp({1, 2, 3, 4}, 0.0);
  h[2] = {3, 1.25, 1.3, false};
  const auto u = a.update(h);
  ASSERT_EQ(ids(u.committed), (std::vector<int>{3}));
  EXPECT_GE(u.committed[0].start, 1.2 - 1e-12);
  EXPECT_GE(u.committed[0].end, u.committed[0].start);
}

TEST(LocalAgreement, CommittedTokensKeepTheEarlierPassTimes) {
  LocalAgreement a(64);
  // Pass 1 (window ending at 1.0 s): the open segment's tokens stretch to 1.0 s. Pass 2 (window
  // ending at 2.0 s) stretches the same words to 2.0 s; the words were spoken by 1.0 s.
  auto h1 = hyp({1, 2});
  h1[0] = {1, 0.5, 0.75, false};
  h1[1] = {2, 0.75, 1.0, false};
  a.update(h1);
  auto h2 = hyp({1, 2, 3});
  h2[0] = {1, 0.5, 1.0, false};
  h2[1] = {2, 1.0, 1.5, false};
  h2[2] = {3, 1.5, 2.0, false};
  const auto u = a.update(h2);
  ASSERT_EQ(ids(u.committed), (std::vector<int>{1, 2}));
  EXPECT_DOUBLE_EQ(u.committed[0].end, 0.75);
  EXPECT_DOUBLE_EQ(u.committed[1].end, 1.0);
  EXPECT_DOUBLE_EQ(u.partial[0].end, 2.0);
}

TEST(LocalAgreement, FlushCommitsPartialAndTracksSegmentEnds) {
  LocalAgreement a(64);
  a.update(hyp({1, 2, 3, 4}, 0.0, {1}));
  auto u = a.update(hyp({1, 2, 5}, 0.0, {1}));
  EXPECT_EQ(ids(u.committed), (std::vector<int>{1, 2}));
  EXPECT_NEAR(a.committed_segment_end(), 0.2, 1e-9);  // token 2 closes a segment
  const auto f = a.flush();
  EXPECT_EQ(ids(f), (std::vector<int>{5}));
  EXPECT_TRUE(a.partial().empty());
  EXPECT_NEAR(a.committed_end(), 0.3, 1e-9);
}

TEST(LocalAgreement, TrimMovesCommittedTokensOutOfTheBuffer) {
  LocalAgreement a(64);
  a.update(hyp({1, 2, 3, 4}, 0.0, {1}));
  a.update(hyp({1, 2, 3, 4, 5}, 0.0, {1}));  // commits 1 2 3 4
  ASSERT_EQ(a.committed_in_buffer().size(), 4u);
  const auto removed = a.trim(a.committed_segment_end());
  EXPECT_EQ(ids(removed), (std::vector<int>{1, 2}));
  EXPECT_EQ(ids(a.committed_in_buffer()), (std::vector<int>{3, 4}));
  EXPECT_EQ(a.committed_segment_end(), -1.0);
  // After the trim the buffer's hypothesis starts with 3 4; agreement goes on.
  const auto u = a.update(hyp({3, 4, 5, 6}, 0.2));
  EXPECT_EQ(ids(u.committed), (std::vector<int>{5}));
}

TEST(LocalAgreement, NeverGrowsPastItsCapacity) {
  LocalAgreement a(8);
  std::vector<int> long_ids(20);
  for (int i = 0; i < 20; ++i) long_ids[static_cast<std::size_t>(i)] = i;
  a.update(hyp(long_ids));
  const auto u = a.update(hyp(long_ids));
  EXPECT_EQ(u.committed.size(), 8u);  // hypotheses are cut to the capacity
  for (int round = 0; round < 10; ++round) {
    a.update(hyp({100 + round}, 10.0 + round));
    a.update(hyp({100 + round}, 10.0 + round));
  }
  EXPECT_LE(a.committed_in_buffer().size(), 16u);
}

TEST(NgramLoop, CutsRunsAfterTheFirstOccurrence) {
  const std::vector<int> loop = {5, 1, 2, 1, 2, 1, 2, 1, 2, 9};
  EXPECT_EQ(loop_free_length(loop, 8, 3), 3u);  // 5 1 2
  const std::vector<int> single = {4, 4, 4, 4};
  EXPECT_EQ(loop_free_length(single, 8, 3), 1u);
  const std::vector<int> twice = {1, 2, 1, 2, 3};  // repeated only twice: kept
  EXPECT_EQ(loop_free_length(twice, 8, 3), twice.size());
  const std::vector<int> clean = {1, 2, 3, 4, 5, 6};
  EXPECT_EQ(loop_free_length(clean, 8, 3), clean.size());
  const std::vector<int> long_ngram = {9, 1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4};
  EXPECT_EQ(loop_free_length(long_ngram, 8, 3), 5u);
  EXPECT_EQ(loop_free_length(long_ngram, 3, 3), long_ngram.size());  // n-gram longer than max
  EXPECT_EQ(loop_free_length({}, 8, 3), 0u);
}

}  // namespace
}  // namespace earshot::nodes::caption
