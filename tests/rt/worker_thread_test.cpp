// Semaphore and WorkerThread: the audio thread wakes a worker without breaking the real-time
// rules (checked by the guard), the worker runs once per wake, shuts down cleanly and reports
// what its work threw.
#include "rt/worker_thread.hpp"

#include <gtest/gtest.h>
#include <pthread.h>

#include <array>
#include <chrono>
#include <stdexcept>
#include <thread>
#include <vector>

#include "rt/audio_thread_guard.hpp"
#include "rt/ring_buffer.hpp"

namespace earshot::rt {
namespace {

using namespace std::chrono_literals;

// Polls `done` for up to 30 s (TSan on a loaded 2-core machine can be slow).
template <typename Pred>
bool eventually(Pred done) {
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

TEST(Semaphore, CountsPostsAndWaits) {
  Semaphore sem(2);
  EXPECT_EQ(sem.value(), 2);
  EXPECT_TRUE(sem.try_wait());
  EXPECT_TRUE(sem.try_wait());
  EXPECT_FALSE(sem.try_wait()) << "count is zero";
  EXPECT_TRUE(sem.post());
  EXPECT_EQ(sem.value(), 1);
  sem.wait();
  EXPECT_EQ(sem.value(), 0);
}

TEST(Semaphore, WaitForTimesOutAndWakes) {
  Semaphore sem;
  const auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(sem.wait_for(20ms));
  EXPECT_GE(std::chrono::steady_clock::now() - start, 15ms);

  std::thread poster([&] {
    std::this_thread::sleep_for(5ms);
    sem.post();
  });
  EXPECT_TRUE(sem.wait_for(30s));
  poster.join();
}

TEST(Semaphore, PostIsAllowedOnTheAudioThread) {
  Semaphore sem;
  guard::reset();
  std::thread audio([&] {
    enter_audio_thread();
    for (int i = 0; i < 1000; ++i) sem.post();
    leave_audio_thread();
  });
  audio.join();
  EXPECT_TRUE(guard::installed());
  EXPECT_EQ(guard::violations(), 0u) << guard::first_violation_or_none();
  EXPECT_EQ(sem.value(), 1000);
}

TEST(WorkerThread, RunsOncePerWakeAndIsNamed) {
  std::array<char, 16> name{};
  std::atomic<int> calls{0};
  WorkerThread worker("earshot-worker-with-a-long-name", [&] {
    if (calls.fetch_add(1) == 0) pthread_getname_np(pthread_self(), name.data(), name.size());
  });
  for (int i = 0; i < 10; ++i) worker.wake();
  ASSERT_TRUE(eventually([&] { return worker.runs() == 10; }));
  EXPECT_EQ(calls.load(), 10);
  EXPECT_STREQ(name.data(), "earshot-worker-") << "truncated to the kernel's 15 characters";
  worker.stop();
  worker.wake();  // after stop: ignored, no crash
  worker.stop();  // idempotent
  EXPECT_EQ(worker.runs(), 10u);
  EXPECT_FALSE(worker.failed());
  EXPECT_NO_THROW(worker.rethrow_if_failed());
}

TEST(WorkerThread, DestructorStopsAnIdleWorker) {
  std::atomic<int> calls{0};
  {
    WorkerThread worker("idle", [&] { ++calls; });
  }
  EXPECT_EQ(calls.load(), 0) << "no wake, no run";
}

TEST(WorkerThread, KeepsWhatWorkThrew) {
  WorkerThread worker("thrower", [] { throw std::runtime_error("model exploded"); });
  worker.wake();
  ASSERT_TRUE(eventually([&] { return worker.failed(); }));
  worker.wake();  // ignored from now on
  try {
    worker.rethrow_if_failed();
    FAIL() << "expected the worker's exception";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "model exploded");
  }
  EXPECT_EQ(worker.runs(), 0u);
}

// The pattern the engine uses: the audio thread writes periods into a ring and wakes the
// worker, the worker drains the ring. Nothing on the audio side may allocate or lock, and the
// worker must see every sample in order.
TEST(WorkerThread, AudioThreadFeedsWorkerThroughRing) {
  constexpr std::size_t kPeriod = 128;
  constexpr int kPeriods = 2000;
  SpscRing<float> ring(kPeriod * 64);
  std::vector<float> drained;
  drained.reserve(kPeriod * kPeriods);
  std::vector<float> scratch(ring.capacity());
  WorkerThread worker("drain", [&] {
    const std::size_t got = ring.read(scratch);
    drained.insert(drained.end(), scratch.begin(), scratch.begin() + got);
  });

  std::vector<float> period(kPeriod);
  std::size_t dropped = 0;
  guard::reset();
  std::thread audio([&] {
    for (int p = 0; p < kPeriods; ++p) {
      enter_audio_thread();
      for (std::size_t i = 0; i < kPeriod; ++i) period[i] = static_cast<float>(p * kPeriod + i);
      const std::size_t wrote = ring.write(period);
      dropped += kPeriod - wrote;
      worker.wake();
      // A real callback returns here; give the worker some room like a sound card would.
      if (p % 16 == 0) {
        leave_audio_thread();
        std::this_thread::sleep_for(100us);
      }
    }
    leave_audio_thread();
  });
  audio.join();
  EXPECT_EQ(guard::violations(), 0u) << guard::first_violation_or_none();

  const std::size_t expected = kPeriod * kPeriods - dropped;
  ASSERT_TRUE(eventually([&] {
    worker.wake();
    return ring.read_available() == 0 && worker.runs() > 0;
  }));
  worker.stop();  // joins: everything the worker wrote is now visible
  ASSERT_EQ(drained.size(), expected);
  if (dropped == 0) {
    for (std::size_t i = 0; i < drained.size(); ++i)
      ASSERT_EQ(drained[i], static_cast<float>(i)) << "sample " << i;
  }
}

}  // namespace
}  // namespace earshot::rt
