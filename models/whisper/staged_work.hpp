// One parallel region made of stages that must run in order (a decode step: each matrix
// product needs the whole output of the one before), each stage split into chunks.
//
// Every thread of the region walks the same stages; within a stage it claims chunks until none
// are left, then waits until every claimed chunk is finished. Waking the team once per token
// instead of once per product saves ~30-50 wake-ups, and claiming (instead of a fixed split)
// balances the threads: a thread that the scheduler runs late simply claims fewer chunks, and
// one that never arrives costs nothing (the others do its share). No allocation after
// construction; reset() before each run of the region.
#pragma once

#include <atomic>
#include <memory>
#include <thread>
#ifdef __SSE2__
#include <immintrin.h>
#endif

namespace earshot::models::whisper {

class StagedWork {
 public:
  explicit StagedWork(int max_stages)
      : max_stages_(max_stages),
        slots_(std::make_unique<Slot[]>(static_cast<std::size_t>(max_stages))) {}

  int max_stages() const { return max_stages_; }

  // Before the region runs (no thread inside): every stage starts with nothing claimed.
  void reset(int stages) {
    for (int s = 0; s < stages; ++s) {
      slots_[static_cast<std::size_t>(s)].claimed.store(0, std::memory_order_relaxed);
      slots_[static_cast<std::size_t>(s)].done.store(0, std::memory_order_relaxed);
    }
  }

  // The next unclaimed chunk of `stage` (0 .. chunks-1), or -1 when all are taken.
  int claim(int stage, int chunks) {
    const int i =
        slots_[static_cast<std::size_t>(stage)].claimed.fetch_add(1, std::memory_order_relaxed);
    return i < chunks ? i : -1;
  }
  // A claimed chunk is finished (its writes become visible to whoever waits on the stage).
  void finish(int stage) {
    slots_[static_cast<std::size_t>(stage)].done.fetch_add(1, std::memory_order_release);
  }
  // Waits until all `chunks` of `stage` are finished.
  void wait(int stage, int chunks) {
    const auto& done = slots_[static_cast<std::size_t>(stage)].done;
    for (int spin = 0; done.load(std::memory_order_acquire) < chunks; ++spin) {
      // Spin briefly (the other thread is normally a few microseconds away), then let the
      // scheduler run it if it shares our core.
      if (spin < 2000) {
#ifdef __SSE2__
        _mm_pause();
#endif
      } else {
        std::this_thread::yield();
      }
    }
  }

 private:
  struct alignas(64) Slot {
    std::atomic<int> claimed{0};
    std::atomic<int> done{0};
  };
  int max_stages_;
  std::unique_ptr<Slot[]> slots_;
};

}  // namespace earshot::models::whisper
