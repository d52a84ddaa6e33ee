// A counting semaphore whose post() is safe on the audio thread.
//
// POSIX sem_post is async-signal-safe: an atomic increment plus, only when a thread is waiting,
// a futex wake syscall. It never allocates, locks or blocks (the audio-thread guard test checks
// this). The waiting side (wait/try_wait/wait_for) is for worker threads only.
// std::counting_semaphore would do on current libstdc++, but its release() path is an
// implementation detail that has used a mutex-protected waiter pool on some versions; sem_t's
// contract is written down.
#pragma once

#include <chrono>
#include <cstdint>

#include <semaphore.h>

namespace earshot::rt {

class Semaphore {
 public:
  explicit Semaphore(unsigned initial = 0);
  ~Semaphore();
  Semaphore(const Semaphore&) = delete;
  Semaphore& operator=(const Semaphore&) = delete;

  // Audio-thread safe: adds one and wakes one waiter. False only if the count would overflow.
  bool post() noexcept;

  // Worker side: blocks until the count is positive, then takes one.
  void wait() noexcept;
  // Takes one if the count is positive; never blocks.
  bool try_wait() noexcept;
  // Blocks for at most `timeout`; true if one was taken.
  bool wait_for(std::chrono::nanoseconds timeout) noexcept;

  // A snapshot of the count (for tests and stats).
  int value() const noexcept;

 private:
  mutable sem_t sem_;
};

}  // namespace earshot::rt
