#include "rt/thread_team.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

namespace earshot::rt {
namespace {

TEST(ThreadTeam, EveryShareRunsExactlyOncePerRun) {
  for (int threads : {1, 2, 3, 5}) {
    ThreadTeam team(threads);
    ASSERT_EQ(team.size(), threads);
    std::vector<int> counts(static_cast<std::size_t>(threads));
    for (int run = 0; run < 2000; ++run) {
      std::vector<std::atomic<int>> hits(static_cast<std::size_t>(threads));
      team.run([&](int share) { hits[static_cast<std::size_t>(share)].fetch_add(1); });
      for (int s = 0; s < threads; ++s) ASSERT_EQ(hits[static_cast<std::size_t>(s)].load(), 1);
    }
  }
}

TEST(ThreadTeam, ShareZeroRunsOnTheCallingThread) {
  ThreadTeam team(3);
  for (int run = 0; run < 200; ++run) {
    std::thread::id zero;
    team.run([&](int share) {
      if (share == 0) zero = std::this_thread::get_id();
    });
    ASSERT_EQ(zero, std::this_thread::get_id());
  }
}

TEST(ThreadTeam, CallerTakesOverSharesOfASlowWorker) {
  // One share is slow; with 3 shares the other two must still complete and run() only returns
  // once all are done (whoever ran them).
  ThreadTeam team(3);
  std::atomic<int> finished{0};
  team.run([&](int share) {
    if (share == 1) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    finished.fetch_add(1);
  });
  EXPECT_EQ(finished.load(), 3);
}

TEST(ParallelFor, CoversTheRangeOnceWithAlignedStarts) {
  ThreadTeam team(3);
  for (int n : {0, 1, 7, 16, 100, 1001}) {
    std::vector<std::atomic<int>> hits(static_cast<std::size_t>(n));
    parallel_for(&team, n, 8, [&](int begin, int end, int worker) {
      EXPECT_EQ(begin % 8, 0);
      EXPECT_GE(worker, 0);
      EXPECT_LT(worker, 3);
      for (int i = begin; i < end; ++i) hits[static_cast<std::size_t>(i)].fetch_add(1);
    });
    for (int i = 0; i < n; ++i) ASSERT_EQ(hits[static_cast<std::size_t>(i)].load(), 1) << n;
  }
}

}  // namespace
}  // namespace earshot::rt
