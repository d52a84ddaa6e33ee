// SpscRing: capacity rounding, accounting, wrap-around, bulk copies, peek/skip, regions, and a
// two-thread stress test that moves 10^8 samples and checks every one.
#include "rt/ring_buffer.hpp"

#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <numeric>
#include <thread>
#include <vector>

#include "rt/memory_budget.hpp"
#include "tests/rt/stress_config.hpp"

namespace earshot::rt {
namespace {

std::vector<int> iota_vector(std::size_t n, int start) {
  std::vector<int> v(n);
  std::iota(v.begin(), v.end(), start);
  return v;
}

TEST(SpscRing, CapacityRoundsUpToPowerOfTwo) {
  EXPECT_EQ(SpscRing<float>(0).capacity(), 2u);
  EXPECT_EQ(SpscRing<float>(1).capacity(), 2u);
  EXPECT_EQ(SpscRing<float>(2).capacity(), 2u);
  EXPECT_EQ(SpscRing<float>(3).capacity(), 4u);
  EXPECT_EQ(SpscRing<float>(1000).capacity(), 1024u);
  EXPECT_EQ(SpscRing<float>(1024).capacity(), 1024u);
  EXPECT_EQ(SpscRing<float>(1025).capacity(), 2048u);
  EXPECT_EQ(next_power_of_two(48000), 65536u);
}

TEST(SpscRing, RejectsAbsurdCapacity) {
  EXPECT_THROW(SpscRing<float>(~std::size_t{0}), std::length_error);
}

TEST(SpscRing, PreallocatedStorageMustBePowerOfTwo) {
  std::array<float, 8> storage{};
  EXPECT_THROW(SpscRing<float>(storage.data(), 3), std::invalid_argument);
  EXPECT_THROW(SpscRing<float>(storage.data(), 6), std::invalid_argument);
  EXPECT_THROW(SpscRing<float>(storage.data(), 1), std::invalid_argument);
  EXPECT_THROW(SpscRing<float>(storage.data(), 0), std::invalid_argument);
  EXPECT_THROW(SpscRing<float>(nullptr, 8), std::invalid_argument);
  SpscRing<float> ring(storage.data(), 8);
  EXPECT_EQ(ring.capacity(), 8u);
}

TEST(SpscRing, RunsOverBudgetReservedStorage) {
  MemoryBudget budget(1 << 20);
  Reservation storage = budget.reserve_array<float>("audio.input_ring", 4096);
  SpscRing<float> ring(storage.as<float>().data(), 4096);
  EXPECT_EQ(budget.active(), 4096 * sizeof(float)) << "the ring's memory is on the budget";
  const std::vector<float> period(256, 0.5f);
  ASSERT_EQ(ring.write(period), 256u);
  EXPECT_EQ(storage.as<float>()[255], 0.5f) << "samples live in the reservation";
  std::vector<float> out(256);
  ASSERT_EQ(ring.read(out), 256u);
  EXPECT_EQ(out, period);
}

TEST(SpscRing, FillAndDrainAccounting) {
  SpscRing<int> ring(8);
  EXPECT_EQ(ring.read_available(), 0u);
  EXPECT_EQ(ring.write_available(), 8u);

  const auto src = iota_vector(13, 100);
  EXPECT_EQ(ring.write(src), 8u) << "only capacity samples fit";
  EXPECT_EQ(ring.read_available(), 8u);
  EXPECT_EQ(ring.write_available(), 0u);
  EXPECT_EQ(ring.write(src), 0u) << "a full ring accepts nothing";
  EXPECT_FALSE(ring.push(1));

  std::vector<int> dst(20, -1);
  EXPECT_EQ(ring.read(dst), 8u) << "reads stop at what is there";
  for (int i = 0; i < 8; ++i) EXPECT_EQ(dst[i], 100 + i);
  EXPECT_EQ(dst[8], -1) << "nothing written past what was read";
  EXPECT_EQ(ring.read(dst), 0u);
  int value = 0;
  EXPECT_FALSE(ring.pop(value));
}

TEST(SpscRing, EmptySpansAreNoOps) {
  SpscRing<float> ring(4);
  EXPECT_EQ(ring.write(std::span<const float>()), 0u);
  EXPECT_EQ(ring.read(std::span<float>()), 0u);
  EXPECT_EQ(ring.peek(std::span<float>()), 0u);
  EXPECT_EQ(ring.skip(0), 0u);
  EXPECT_EQ(ring.read_available(), 0u);
}

TEST(SpscRing, WrapAroundLandsAtTheStartOfStorage) {
  std::array<int, 8> storage{};
  SpscRing<int> ring(storage.data(), 8);
  const auto first = iota_vector(6, 0);
  ASSERT_EQ(ring.write(first), 6u);
  std::vector<int> sink(6);
  ASSERT_EQ(ring.read(sink), 6u);

  // Five more samples start at slot 6 and wrap to slots 0..2.
  const auto second = iota_vector(5, 10);
  ASSERT_EQ(ring.write(second), 5u);
  EXPECT_EQ(storage[6], 10);
  EXPECT_EQ(storage[7], 11);
  EXPECT_EQ(storage[0], 12);
  EXPECT_EQ(storage[1], 13);
  EXPECT_EQ(storage[2], 14);

  std::vector<int> out(5);
  ASSERT_EQ(ring.read(out), 5u);
  EXPECT_EQ(out, second) << "a read across the wrap restores the order";
}

TEST(SpscRing, ManyWrapsWithOddChunkSizesKeepOrder) {
  SpscRing<std::uint32_t> ring(16);
  std::uint32_t next_in = 0;
  std::uint32_t next_out = 0;
  std::vector<std::uint32_t> buffer(16);
  for (int round = 0; round < 1000; ++round) {
    const std::size_t n_in = 1 + (round * 7) % 16;
    for (std::size_t i = 0; i < n_in; ++i) buffer[i] = next_in + static_cast<std::uint32_t>(i);
    next_in += static_cast<std::uint32_t>(ring.write({buffer.data(), n_in}));
    const std::size_t n_out = 1 + (round * 5) % 16;
    const std::size_t got = ring.read({buffer.data(), n_out});
    for (std::size_t i = 0; i < got; ++i) ASSERT_EQ(buffer[i], next_out++) << "round " << round;
    ASSERT_EQ(ring.read_available(), next_in - next_out);
  }
  EXPECT_GT(next_out, 16u * 100) << "the indices went around many times";
}

TEST(SpscRing, PeekDoesNotConsumeAndSkipDrops) {
  SpscRing<int> ring(8);
  ASSERT_EQ(ring.write(iota_vector(6, 1)), 6u);

  std::vector<int> window(4);
  ASSERT_EQ(ring.peek(window), 4u);
  EXPECT_EQ(window, (std::vector<int>{1, 2, 3, 4}));
  ASSERT_EQ(ring.peek(window), 4u) << "peeking twice sees the same samples";
  EXPECT_EQ(window, (std::vector<int>{1, 2, 3, 4}));
  EXPECT_EQ(ring.read_available(), 6u);

  // A sliding window with hop 2: skip the hop, peek the next window.
  EXPECT_EQ(ring.skip(2), 2u);
  ASSERT_EQ(ring.peek(window), 4u);
  EXPECT_EQ(window, (std::vector<int>{3, 4, 5, 6}));

  EXPECT_EQ(ring.skip(100), 4u) << "skip stops at what is there";
  EXPECT_EQ(ring.read_available(), 0u);
  EXPECT_EQ(ring.write_available(), 8u) << "skipped samples free their space";
}

TEST(SpscRing, PeekAcrossTheWrap) {
  SpscRing<int> ring(8);
  ASSERT_EQ(ring.write(iota_vector(7, 0)), 7u);
  ASSERT_EQ(ring.skip(7), 7u);
  ASSERT_EQ(ring.write(iota_vector(5, 20)), 5u);  // slots 7, 0, 1, 2, 3
  std::vector<int> window(5);
  ASSERT_EQ(ring.peek(window), 5u);
  EXPECT_EQ(window, iota_vector(5, 20));
}

TEST(SpscRing, RegionsSplitAtTheWrapAndPublishOnlyOnCommit) {
  SpscRing<int> ring(8);
  ASSERT_EQ(ring.write(iota_vector(6, 0)), 6u);
  ASSERT_EQ(ring.skip(6), 6u);

  RingRegions<int> space = ring.write_regions(5);
  ASSERT_EQ(space.first.size(), 2u) << "slots 6 and 7";
  ASSERT_EQ(space.second.size(), 3u) << "slots 0, 1, 2";
  for (std::size_t i = 0; i < space.size(); ++i) space[i] = 50 + static_cast<int>(i);
  EXPECT_EQ(ring.read_available(), 0u) << "nothing visible before commit_write";
  ring.commit_write(4);
  EXPECT_EQ(ring.read_available(), 4u);

  EXPECT_EQ(ring.write_regions(100).size(), 4u) << "write regions are bounded by free space";

  RingRegions<const int> data = ring.read_regions(10);
  ASSERT_EQ(data.size(), 4u);
  EXPECT_EQ(data.first.size(), 2u);
  for (std::size_t i = 0; i < data.size(); ++i) EXPECT_EQ(data[i], 50 + static_cast<int>(i));
  EXPECT_EQ(data.prefix(3).size(), 3u);
  EXPECT_EQ(data.prefix(3).second.size(), 1u);
  ring.commit_read(3);
  int last = 0;
  ASSERT_TRUE(ring.pop(last));
  EXPECT_EQ(last, 53);
}

// The producer writes a counter sequence in random-sized chunks, the consumer reads random-sized
// chunks and checks every sample is the next number: no loss, no duplicates, no reordering.
// A small ring (4096) keeps the two threads constantly meeting at the wrap.
TEST(SpscRingStress, TwoThreadsMoveSamplesWithoutLossOrReordering) {
  const std::uint64_t total = test::stress_samples();
  SpscRing<std::uint32_t> ring(4096);
  std::atomic<bool> stop{false};

  std::thread producer([&] {
    test::ChunkSizes sizes(0x1234);
    test::Backoff backoff;
    std::vector<std::uint32_t> chunk(1024);
    std::uint64_t next = 0;
    while (next < total && !stop.load(std::memory_order_relaxed)) {
      const std::size_t n = std::min<std::uint64_t>(sizes.next(chunk.size()), total - next);
      for (std::size_t i = 0; i < n; ++i) chunk[i] = static_cast<std::uint32_t>(next + i);
      std::size_t done = 0;
      while (done < n && !stop.load(std::memory_order_relaxed)) {
        const std::size_t wrote = ring.write({chunk.data() + done, n - done});
        wrote == 0 ? backoff.idle() : backoff.progress();
        done += wrote;
      }
      next += n;
    }
  });

  test::ChunkSizes sizes(0x9876);
  test::Backoff backoff;
  std::vector<std::uint32_t> chunk(1024);
  std::uint64_t expected = 0;
  std::uint64_t mismatches = 0;
  std::uint64_t first_bad_index = 0;
  std::uint32_t first_bad_value = 0;
  while (expected < total && mismatches == 0) {
    const std::size_t got = ring.read({chunk.data(), sizes.next(chunk.size())});
    if (got == 0) {
      backoff.idle();
      continue;
    }
    backoff.progress();
    for (std::size_t i = 0; i < got; ++i) {
      if (chunk[i] != static_cast<std::uint32_t>(expected + i) && mismatches++ == 0) {
        first_bad_index = expected + i;
        first_bad_value = chunk[i];
      }
    }
    expected += got;
  }
  stop.store(true);
  producer.join();

  EXPECT_EQ(mismatches, 0u) << "sample " << first_bad_index << " was " << first_bad_value;
  EXPECT_EQ(expected, total);
  EXPECT_EQ(ring.read_available(), 0u) << "nothing extra after the last sample";
}

// Same, with the consumer using the sliding-window pattern (peek a window, skip a hop).
TEST(SpscRingStress, PeekAndSkipAcrossThreads) {
  const std::uint64_t total = test::stress_samples() / 10;
  SpscRing<std::uint32_t> ring(1024);
  std::thread producer([&] {
    test::ChunkSizes sizes(7);
    test::Backoff backoff;
    std::vector<std::uint32_t> chunk(256);
    std::uint64_t next = 0;
    while (next < total) {
      const std::size_t n = std::min<std::uint64_t>(sizes.next(chunk.size()), total - next);
      for (std::size_t i = 0; i < n; ++i) chunk[i] = static_cast<std::uint32_t>(next + i);
      std::size_t done = 0;
      while (done < n) {
        const std::size_t wrote = ring.write({chunk.data() + done, n - done});
        wrote == 0 ? backoff.idle() : backoff.progress();
        done += wrote;
      }
      next += n;
    }
  });

  constexpr std::size_t kWindow = 400;
  constexpr std::size_t kHop = 160;
  std::vector<std::uint32_t> window(kWindow);
  test::Backoff backoff;
  std::uint64_t start = 0;
  std::uint64_t mismatches = 0;
  // Windows that fit entirely in the stream; the tail shorter than a window is skipped.
  while (start + kWindow <= total) {
    if (ring.peek(window) < kWindow) {
      backoff.idle();
      continue;
    }
    backoff.progress();
    for (std::size_t i = 0; i < kWindow; ++i)
      mismatches += window[i] != static_cast<std::uint32_t>(start + i);
    ASSERT_EQ(ring.skip(kHop), kHop);
    start += kHop;
  }
  while (start < total) {
    const std::size_t dropped = ring.skip(total - start);
    dropped == 0 ? backoff.idle() : backoff.progress();
    start += dropped;
  }
  producer.join();
  EXPECT_EQ(mismatches, 0u);
  EXPECT_EQ(ring.read_available(), 0u);
}

}  // namespace
}  // namespace earshot::rt
