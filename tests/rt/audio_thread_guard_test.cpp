// The audio-thread guard: it names the thread, and it catches what the audio thread must never
// do (allocate, free, lock a mutex) while a clean callback records nothing. Each planted call
// runs on a fresh thread marked as the audio thread; the guard's counters are read after the
// thread has left the mark.
#include "rt/audio_thread_guard.hpp"

#include <gtest/gtest.h>
#include <pthread.h>
#include <semaphore.h>

#include <malloc.h>
#include <array>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "rt/control_queue.hpp"
#include "rt/interleave.hpp"
#include "rt/ring_buffer.hpp"
#include "tests/rt/guard/sanitizers.hpp"

namespace earshot::rt {
namespace {

// Keeps the compiler from eliding an allocation whose result is otherwise unused.
void escape(void* p) {
  asm volatile("" : : "g"(p) : "memory");
}

#if defined(EARSHOT_ASAN) || defined(EARSHOT_TSAN)
constexpr bool kSanitizerHooks = true;
#else
constexpr bool kSanitizerHooks = false;
#endif
#if defined(EARSHOT_TSAN)
constexpr bool kThreadSanitizer = true;  // aligned allocations are interposed by name there
#else
constexpr bool kThreadSanitizer = false;
#endif

// The name the guard reports for an allocation by `plain_name` in this build.
std::string expected_allocation(const char* plain_name) {
  return kSanitizerHooks ? "malloc/new (sanitizer hook)" : plain_name;
}
std::string expected_deallocation(const char* plain_name) {
  return kSanitizerHooks ? "free/delete (sanitizer hook)" : plain_name;
}

// Runs `body` on a new thread marked as the audio thread; returns the violations it caused.
template <typename Body>
std::uint64_t violations_on_audio_thread(Body&& body) {
  guard::reset();
  std::thread audio([&] {
    enter_audio_thread();
    body();
    leave_audio_thread();  // before the thread's own teardown frees its state
  });
  audio.join();
  return guard::violations();
}

std::string first() {
  return guard::first_violation_or_none();
}

TEST(AudioThreadGuard, IsLinkedAndSeesAllocationsAndLocks) {
  EXPECT_TRUE(guard::installed());
  EXPECT_TRUE(guard::capabilities() & guard::kDetectsAllocation);
  EXPECT_TRUE(guard::capabilities() & guard::kDetectsMutexLock);
}

TEST(AudioThreadGuard, NamesAndMarksTheThread) {
  std::array<char, 16> name{};
  bool marked_inside = false, marked_after_leave = true;
  std::thread audio([&] {
    enter_audio_thread();
    enter_audio_thread();  // later callbacks: harmless
    marked_inside = is_audio_thread();
    pthread_getname_np(pthread_self(), name.data(), name.size());
    leave_audio_thread();
    marked_after_leave = is_audio_thread();
  });
  audio.join();
  EXPECT_STREQ(name.data(), "earshot-rt");
  EXPECT_TRUE(marked_inside);
  EXPECT_FALSE(marked_after_leave);
  EXPECT_FALSE(is_audio_thread()) << "the mark is per thread";
}

TEST(AudioThreadGuard, ScopesNestAndRestore) {
  bool outer = false, inner = false, after_inner = false, after_outer = true;
  std::thread audio([&] {
    {
      AudioThreadScope callback;
      outer = is_audio_thread();
      {
        AudioThreadScope node_process;
        inner = is_audio_thread();
      }
      after_inner = is_audio_thread();
    }
    after_outer = is_audio_thread();
  });
  audio.join();
  EXPECT_TRUE(outer);
  EXPECT_TRUE(inner);
  EXPECT_TRUE(after_inner) << "an inner scope must not unmark the callback";
  EXPECT_FALSE(after_outer);
}

TEST(AudioThreadGuard, CatchesPlantedMalloc) {
  EXPECT_EQ(violations_on_audio_thread([] {
              void* p = std::malloc(64);
              escape(p);
              leave_audio_thread();  // count only the malloc
              std::free(p);
            }),
            1u);
  EXPECT_EQ(first(), expected_allocation("malloc"));
}

TEST(AudioThreadGuard, CatchesPlantedFree) {
  void* p = std::malloc(64);  // allocated on this (unmarked) thread: fine
  escape(p);
  EXPECT_EQ(violations_on_audio_thread([p] { std::free(p); }), 1u);
  EXPECT_EQ(first(), expected_deallocation("free"));
}

TEST(AudioThreadGuard, CatchesPlantedNewAndDelete) {
  const std::uint64_t count = violations_on_audio_thread([] {
    auto* p = new std::array<float, 256>();
    escape(p);
    delete p;
  });
  EXPECT_EQ(count, 2u) << "operator new and operator delete";
  EXPECT_EQ(first(), expected_allocation("operator new"));
}

TEST(AudioThreadGuard, CatchesArrayAndAlignedNew) {
  struct alignas(128) Block {
    float v[64];
  };
  EXPECT_EQ(violations_on_audio_thread([] {
              auto* p = new float[512];
              escape(p);
              leave_audio_thread();
              delete[] p;
            }),
            1u);
  EXPECT_EQ(first(), expected_allocation("operator new[]"));
  EXPECT_EQ(violations_on_audio_thread([] {
              auto* p = new Block();
              escape(p);
              leave_audio_thread();
              delete p;
            }),
            1u);
  EXPECT_EQ(first(), expected_allocation("operator new"));
}

TEST(AudioThreadGuard, CatchesTheRestOfTheMallocFamily) {
  void* a = nullptr;
  void* b = nullptr;
  void* c = nullptr;
  void* d = nullptr;
  const std::uint64_t count = violations_on_audio_thread([&] {
    a = std::calloc(4, 16);
    b = std::realloc(nullptr, 32);
    c = std::aligned_alloc(64, 128);
    if (posix_memalign(&d, 64, 128) != 0) d = nullptr;
    escape(a);
    escape(b);
    escape(c);
    escape(d);
  });
  EXPECT_EQ(count, 4u) << "calloc, realloc, aligned_alloc, posix_memalign";
  EXPECT_EQ(first(), expected_allocation("calloc"));
  for (void* p : {a, b, c, d}) std::free(p);

  // Aligned allocations once more, each on its own, so each must be seen by name.
  EXPECT_EQ(violations_on_audio_thread([&] {
              a = std::aligned_alloc(64, 128);
              escape(a);
            }),
            1u);
  EXPECT_EQ(first(), kThreadSanitizer ? "aligned_alloc" : expected_allocation("aligned_alloc"));
  EXPECT_EQ(violations_on_audio_thread([&] {
              if (posix_memalign(&b, 256, 512) != 0) b = nullptr;
              escape(b);
            }),
            1u);
  EXPECT_EQ(first(), kThreadSanitizer ? "posix_memalign" : expected_allocation("posix_memalign"));
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(b) % 256, 0u);
  EXPECT_EQ(violations_on_audio_thread([&] {
              c = memalign(128, 64);
              d = valloc(64);
              escape(c);
              escape(d);
            }),
            2u);
  for (void* p : {a, b, c, d}) std::free(p);
}

TEST(AudioThreadGuard, CatchesHiddenAllocationInAContainer) {
  std::vector<float> v;
  EXPECT_GE(violations_on_audio_thread([&] { v.push_back(1.0f); }), 1u);
  EXPECT_EQ(first(), expected_allocation("operator new"));
}

TEST(AudioThreadGuard, CatchesPlantedMutexLock) {
  std::mutex mutex;
  EXPECT_EQ(violations_on_audio_thread([&] { std::lock_guard lock(mutex); }), 1u);
  EXPECT_EQ(first(), "pthread_mutex_lock");

  pthread_mutex_t raw = PTHREAD_MUTEX_INITIALIZER;
  EXPECT_EQ(violations_on_audio_thread([&] {
              pthread_mutex_lock(&raw);
              pthread_mutex_unlock(&raw);
            }),
            1u);
  EXPECT_EQ(first(), "pthread_mutex_lock");
}

TEST(AudioThreadGuard, FirstViolationStaysFirstAndResetClears) {
  std::mutex mutex;
  EXPECT_EQ(violations_on_audio_thread([&] {
              mutex.lock();
              mutex.unlock();
              void* p = std::malloc(8);
              escape(p);
              std::free(p);
            }),
            3u);
  EXPECT_EQ(first(), "pthread_mutex_lock");
  guard::reset();
  EXPECT_EQ(guard::violations(), 0u);
  EXPECT_EQ(guard::first_violation(), nullptr);
  EXPECT_STREQ(guard::first_violation_or_none(), "none");
}

TEST(AudioThreadGuard, UnmarkedThreadsMayAllocateAndLock) {
  guard::reset();
  std::mutex mutex;
  std::thread worker([&] {
    std::lock_guard lock(mutex);
    std::vector<int> v(1000, 1);
    escape(v.data());
  });
  worker.join();
  { std::lock_guard lock(mutex); }
  auto p = std::make_unique<int[]>(100);
  escape(p.get());
  EXPECT_EQ(guard::violations(), 0u) << first();
}

// A clean callback: what the audio thread is meant to do. Everything it touches is built
// beforehand, on the test thread.
TEST(AudioThreadGuard, CleanCallbackRecordsNothing) {
  constexpr std::size_t kFrames = 256, kChannels = 2;
  SpscRing<float> input(4096), output(4096);
  ControlQueue<float> gains(16);
  ResultQueue<std::uint64_t> stats(16);
  std::vector<float> left(kFrames, 0.25f), right(kFrames, -0.25f), scratch(kFrames * kChannels);
  std::vector<float> out_left(kFrames), out_right(kFrames);
  std::array<const float*, kChannels> in_channels = {left.data(), right.data()};
  std::array<float*, kChannels> out_channels = {out_left.data(), out_right.data()};
  ASSERT_TRUE(gains.try_enqueue(0.5f));
  sem_t wake;
  ASSERT_EQ(sem_init(&wake, 0, 0), 0);

  std::uint64_t callbacks = 0;
  float gain = 1.0f;
  const std::uint64_t count = violations_on_audio_thread([&] {
    for (int period = 0; period < 100; ++period) {
      enter_audio_thread();  // what every callback starts with
      while (gains.try_dequeue(gain)) {
      }
      write_planar<float>(input, in_channels, kFrames);
      const std::size_t got = input.read(scratch);
      for (std::size_t i = 0; i < got; ++i) scratch[i] *= gain;
      output.write({scratch.data(), got});
      read_planar<float>(output, out_channels, kFrames);
      stats.try_enqueue(++callbacks);
      sem_post(&wake);  // waking a worker is allowed
    }
  });
  EXPECT_EQ(count, 0u) << "first violation: " << first();
  EXPECT_EQ(callbacks, 100u);
  EXPECT_EQ(out_left[kFrames - 1], 0.125f) << "the callback really ran";
  EXPECT_EQ(out_right[0], -0.125f);
  int posted = 0;
  sem_getvalue(&wake, &posted);
  EXPECT_EQ(posted, 100);
  sem_destroy(&wake);
}

}  // namespace
}  // namespace earshot::rt
