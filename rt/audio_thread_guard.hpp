// The audio-thread guard: marks the thread that runs the audio callback, and (in test builds)
// counts every forbidden call that thread makes.
//
// Production side (always available, costs one thread-local store):
//   Every audio callback starts with `rt::enter_audio_thread();`. The first call names the
//   thread `earshot-rt` (visible in top -H, gdb, perf) and marks it; later calls return at once.
//
// Test side: link the test executable with the object library `earshot_rt_guard`
//   (tests/rt/CMakeLists.txt), e.g. `earshot_add_test_dir(backends LIBS earshot_backends
//   earshot_rt_guard)`. It interposes malloc/calloc/realloc/reallocarray/free/aligned_alloc/
//   posix_memalign/memalign/valloc/pvalloc, every operator new/delete, and pthread_mutex_lock;
//   a call made on a marked thread is counted here, lock-free. Under ASan/TSan, whose runtimes
//   own malloc, allocations are seen through the sanitizer allocator hooks instead (then every
//   allocation function and operator new is reported as "malloc/new (sanitizer hook)" and every
//   deallocation as "free/delete (sanitizer hook)"); mutex detection works in all three builds.
//   A test then checks its callback:
//
//     rt::guard::reset();
//     ... run the backend / node so its callback runs on its own (marked) thread ...
//     EXPECT_TRUE(rt::guard::installed());
//     EXPECT_EQ(rt::guard::violations(), 0u) << rt::guard::first_violation_or_none();
//
//   Read the counters while the audio thread is idle or after it called leave_audio_thread():
//   a marked thread that goes on to shut down (thread exit frees thread-local state, a client
//   library tears down) would otherwise be charged for work that is not a callback's.
//
// Without earshot_rt_guard nothing records: violations() stays 0 and installed() is false, so a
// test that forgets to link the guard cannot pass by accident if it checks installed().
#pragma once

#include <cstdint>

namespace earshot::rt {

// Names the calling thread `earshot-rt` (first call only) and marks it as the audio thread.
// Real-time safe after the first call; the first call makes one non-blocking syscall (prctl).
void enter_audio_thread() noexcept;

// Unmarks the calling thread (it keeps its name). For a thread that stops being the audio
// thread, e.g. a test thread about to exit, or a backend's thread after its last callback.
void leave_audio_thread() noexcept;

// True on a thread marked by enter_audio_thread() (and not since left).
bool is_audio_thread() noexcept;

// Marks the current thread for the lifetime of the object: put one at the top of a callback.
// Restores the previous state on exit, so a scope nested in an already marked region (a
// callback calling a node's process()) does not unmark the outer one.
class AudioThreadScope {
 public:
  AudioThreadScope() noexcept : was_marked_(is_audio_thread()) { enter_audio_thread(); }
  ~AudioThreadScope() {
    if (!was_marked_) leave_audio_thread();
  }
  AudioThreadScope(const AudioThreadScope&) = delete;
  AudioThreadScope& operator=(const AudioThreadScope&) = delete;

 private:
  bool was_marked_;
};

namespace guard {

// What the linked guard can see (bit flags); 0 when earshot_rt_guard is not linked.
enum Capability : unsigned {
  kDetectsAllocation = 1u << 0,  // malloc family, operator new/delete
  kDetectsMutexLock = 1u << 1,   // pthread_mutex_lock (std::mutex, std::lock_guard, ...)
};
unsigned capabilities() noexcept;
inline bool installed() noexcept {
  return (capabilities() & kDetectsAllocation) != 0;
}

// Forbidden calls made on marked threads since the last reset().
std::uint64_t violations() noexcept;
// Name of the first such call since the last reset() ("malloc", "operator new",
// "pthread_mutex_lock", ...), or nullptr when there was none. Points to a string literal.
const char* first_violation() noexcept;
// Same, but "none" instead of nullptr: handy in assertion messages.
const char* first_violation_or_none() noexcept;
// Clears the count and the first name.
void reset() noexcept;

// For the interposer: records one forbidden call (lock-free, allocation-free). `function`
// must be a string literal.
void record_violation(const char* function) noexcept;
// For the interposer: announces what it detects (called once, before main).
void set_capabilities(unsigned capabilities) noexcept;

}  // namespace guard
}  // namespace earshot::rt
