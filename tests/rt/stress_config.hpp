// How many samples the two-thread stress tests move: 10^8 by default (the figure), or
// $EARSHOT_STRESS_SAMPLES when set (e.g. a quick local run).
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <thread>

namespace earshot::test {

inline std::uint64_t stress_samples(std::uint64_t default_count = 100'000'000) {
  if (const char* env = std::getenv("EARSHOT_STRESS_SAMPLES"); env != nullptr && *env != '\0')
    return std::stoull(env);
  return default_count;
}

// A small, fast, deterministic generator for chunk sizes (xorshift64*).
class ChunkSizes {
 public:
  explicit ChunkSizes(std::uint64_t seed) : state_(seed | 1) {}
  // Uniform-ish in [1, max].
  std::size_t next(std::size_t max) {
    state_ ^= state_ >> 12;
    state_ ^= state_ << 25;
    state_ ^= state_ >> 27;
    return static_cast<std::size_t>((state_ * 0x2545F4914F6CDD1DULL) >> 33) % max + 1;
  }

 private:
  std::uint64_t state_;
};

// What a stress-test thread does when the other side has not caught up: yield a few times, then
// sleep briefly. On a loaded 2-core machine (CI runs tests in parallel) pure yielding can spin
// for whole scheduler slices while the partner thread waits for a core.
class Backoff {
 public:
  void idle() {
    if (++idle_rounds_ < 64) {
      std::this_thread::yield();
    } else {
      std::this_thread::sleep_for(std::chrono::microseconds(20));
    }
  }
  void progress() { idle_rounds_ = 0; }

 private:
  int idle_rounds_ = 0;
};

}  // namespace earshot::test
