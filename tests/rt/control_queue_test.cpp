// ControlQueue: FIFO order, a fixed capacity that refuses instead of growing, no allocating
// enqueue in the API, and a two-thread run that loses and reorders nothing.
#include "rt/control_queue.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "tests/rt/stress_config.hpp"

namespace earshot::rt {
namespace {

struct ParameterChange {
  std::uint32_t id = 0;
  float value = 0.0f;
};

// The allocating enqueue of the underlying queue is not reachable through the wrapper.
template <typename Q>
concept HasAllocatingEnqueue = requires(Q& q, typename Q::value_type v) {
  q.enqueue(v);
};
static_assert(!HasAllocatingEnqueue<ControlQueue<ParameterChange>>);
static_assert(!HasAllocatingEnqueue<ResultQueue<std::string>>);

TEST(ControlQueue, FifoOrder) {
  ControlQueue<ParameterChange> queue(8);
  EXPECT_EQ(queue.size_approx(), 0u);
  for (std::uint32_t i = 0; i < 5; ++i) ASSERT_TRUE(queue.try_enqueue({i, i * 0.5f}));
  EXPECT_EQ(queue.size_approx(), 5u);

  ASSERT_NE(queue.peek(), nullptr);
  EXPECT_EQ(queue.peek()->id, 0u) << "peek shows the oldest";
  EXPECT_EQ(queue.size_approx(), 5u) << "peek does not remove";

  ParameterChange change;
  for (std::uint32_t i = 0; i < 5; ++i) {
    ASSERT_TRUE(queue.try_dequeue(change));
    EXPECT_EQ(change.id, i);
    EXPECT_EQ(change.value, i * 0.5f);
  }
  change.id = 99;
  EXPECT_FALSE(queue.try_dequeue(change)) << "empty";
  EXPECT_EQ(change.id, 99u) << "a failed dequeue leaves the output alone";
  EXPECT_EQ(queue.peek(), nullptr);
  EXPECT_FALSE(queue.pop());
}

TEST(ControlQueue, RefusesWhenFullInsteadOfGrowing) {
  for (std::size_t requested : {1u, 15u, 100u, 1000u, 5000u}) {
    ControlQueue<int> queue(requested);
    EXPECT_GE(queue.capacity(), requested);
    std::size_t accepted = 0;
    while (queue.try_enqueue(static_cast<int>(accepted))) {
      ++accepted;
      ASSERT_LE(accepted, queue.capacity()) << "the queue grew past its preallocated room";
    }
    EXPECT_EQ(accepted, queue.capacity()) << "requested " << requested;
    // Draining everything (in order) gives the same room again, still without growing.
    int message = 0;
    for (std::size_t i = 0; i < accepted; ++i) {
      ASSERT_TRUE(queue.try_dequeue(message));
      ASSERT_EQ(message, static_cast<int>(i));
    }
    EXPECT_FALSE(queue.try_dequeue(message));
    std::size_t again = 0;
    while (queue.try_enqueue(0) && again <= queue.capacity()) ++again;
    EXPECT_EQ(again, queue.capacity());
  }
}

TEST(ControlQueue, EmplaceAndMoveOnlyMessages) {
  ResultQueue<std::unique_ptr<std::string>> queue(4);
  ASSERT_TRUE(queue.try_enqueue(std::make_unique<std::string>("hello")));
  ASSERT_TRUE(queue.try_emplace(new std::string("world")));
  std::unique_ptr<std::string> out;
  ASSERT_TRUE(queue.try_dequeue(out));
  EXPECT_EQ(*out, "hello");
  ASSERT_TRUE(queue.try_dequeue(out));
  EXPECT_EQ(*out, "world");
}

TEST(ControlQueueStress, TwoThreadsLoseAndReorderNothing) {
  const std::uint64_t total = test::stress_samples() / 50;  // 2 * 10^6 messages by default
  ControlQueue<ParameterChange> queue(64);
  std::thread producer([&] {
    test::Backoff backoff;
    for (std::uint64_t i = 0; i < total;) {
      if (queue.try_enqueue({static_cast<std::uint32_t>(i), static_cast<float>(i % 1000)})) {
        ++i;
        backoff.progress();
      } else {
        backoff.idle();
      }
    }
  });
  std::uint64_t expected = 0, mismatches = 0;
  ParameterChange change;
  test::Backoff backoff;
  while (expected < total) {
    if (!queue.try_dequeue(change)) {
      backoff.idle();
      continue;
    }
    backoff.progress();
    mismatches += change.id != static_cast<std::uint32_t>(expected) ||
                  change.value != static_cast<float>(expected % 1000);
    ++expected;
  }
  producer.join();
  EXPECT_EQ(mismatches, 0u);
  EXPECT_FALSE(queue.try_dequeue(change)) << "nothing extra";
}

}  // namespace
}  // namespace earshot::rt
