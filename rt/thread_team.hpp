// Data parallelism for model kernels without the model code owning threads.
//
// Model code receives a `Parallel*` (nullptr = run on the calling thread) and splits loops with
// parallel_for(). The application creates the threads once, at start-up, as a ThreadTeam and
// hands it to the encoder/decoder; a run then wakes them, allocates nothing and returns when
// every worker has finished its share. Worker threads only: run() waits, so it never belongs on
// the audio thread.
#pragma once

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

namespace earshot::rt {

// A non-owning reference to a callable (no allocation, unlike std::function).
template <typename Signature>
class FunctionRef;
template <typename R, typename... Args>
class FunctionRef<R(Args...)> {
 public:
  template <typename F, typename = std::enable_if_t<!std::is_same_v<std::decay_t<F>, FunctionRef>>>
  FunctionRef(F&& f)  // NOLINT: implicit by design
      : object_(const_cast<void*>(static_cast<const void*>(&f))),
        call_([](void* o, Args... args) -> R {
          return (*static_cast<std::remove_reference_t<F>*>(o))(std::forward<Args>(args)...);
        }) {}
  R operator()(Args... args) const { return call_(object_, std::forward<Args>(args)...); }

 private:
  void* object_;
  R (*call_)(void*, Args...);
};

class Parallel {
 public:
  virtual ~Parallel() = default;
  // Workers, the calling thread included.
  virtual int size() const = 0;
  // Runs fn(worker) for worker 0 .. size()-1 (0 on the calling thread) and waits for all.
  virtual void run(FunctionRef<void(int)> fn) = 0;
};

inline int parallel_size(const Parallel* p) {
  return p ? p->size() : 1;
}

// Splits [0, n) into parallel_size(p) contiguous chunks whose starts are multiples of `align`
// and runs fn(begin, end, worker) for the non-empty ones.
inline void parallel_for(Parallel* p, int n, int align, FunctionRef<void(int, int, int)> fn) {
  const int workers = parallel_size(p);
  if (workers <= 1 || n <= align) {
    if (n > 0) fn(0, n, 0);
    return;
  }
  const int blocks = (n + align - 1) / align;
  p->run([&](int w) {
    const int b0 = static_cast<int>(static_cast<long long>(blocks) * w / workers);
    const int b1 = static_cast<int>(static_cast<long long>(blocks) * (w + 1) / workers);
    const int begin = b0 * align;
    const int end = std::min(n, b1 * align);
    if (begin < end) fn(begin, end, w);
  });
}

// A fixed team of threads created once. run() publishes the task and wakes the workers (they
// spin briefly, then sleep on a condition variable). Share 0 always runs on the calling thread;
// shares 1.. are claimed by whichever thread gets there first, the caller included. On a loaded
// machine a worker that is not scheduled in time therefore costs nothing: the caller runs its
// share itself and waits only for shares already begun. (A share index is a slot for per-worker
// scratch, not a thread identity.)
class ThreadTeam final : public Parallel {
 public:
  explicit ThreadTeam(int threads) : size_(threads < 1 ? 1 : threads) {
    for (int i = 1; i < size_; ++i) workers_.emplace_back([this] { loop(); });
  }
  ~ThreadTeam() override {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_.store(true, std::memory_order_release);
      generation_.fetch_add(1, std::memory_order_release);
    }
    wake_.notify_all();
    for (auto& t : workers_) t.join();
  }
  ThreadTeam(const ThreadTeam&) = delete;
  ThreadTeam& operator=(const ThreadTeam&) = delete;

  int size() const override { return size_; }

  void run(FunctionRef<void(int)> fn) override {
    if (size_ == 1) {
      fn(0);
      return;
    }
    const std::uint32_t gen = ++run_count_;
    task_ = &fn;
    done_.store(0, std::memory_order_relaxed);
    next_.store(pack(gen, 1), std::memory_order_release);  // shares 1.. are open
    {
      std::lock_guard<std::mutex> lock(mutex_);
      generation_.fetch_add(1, std::memory_order_release);
    }
    wake_.notify_all();
    fn(0);
    int ran_here = 1;
    for (int share; (share = claim(gen)) >= 0; ++ran_here) fn(share);
    while (done_.load(std::memory_order_acquire) + ran_here < size_) std::this_thread::yield();
    task_ = nullptr;
  }

 private:
  // The claim word: the run's number in the high half, the next unclaimed share in the low.
  static std::uint64_t pack(std::uint32_t gen, std::uint32_t share) {
    return (static_cast<std::uint64_t>(gen) << 32) | share;
  }

  // The next share of run `gen`, or -1 when that run has none left (or is over).
  int claim(std::uint32_t gen) {
    std::uint64_t word = next_.load(std::memory_order_acquire);
    for (;;) {
      const auto share = static_cast<std::uint32_t>(word);
      if (static_cast<std::uint32_t>(word >> 32) != gen ||
          share >= static_cast<std::uint32_t>(size_))
        return -1;
      if (next_.compare_exchange_weak(word, word + 1, std::memory_order_acq_rel,
                                      std::memory_order_acquire))
        return static_cast<int>(share);
    }
  }

  void loop() {
    std::uint64_t seen = 0;
    for (;;) {
      // Spin a little: kernels come in quick succession; then sleep.
      std::uint64_t g = generation_.load(std::memory_order_acquire);
      for (int spin = 0; g == seen && spin < 4000; ++spin) {
        std::this_thread::yield();
        g = generation_.load(std::memory_order_acquire);
      }
      if (g == seen) {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [&] { return generation_.load(std::memory_order_acquire) != seen; });
        g = generation_.load(std::memory_order_acquire);
      }
      seen = g;
      if (stop_.load(std::memory_order_acquire)) return;
      // The current run's number rides in the claim word; a claim of a finished run fails.
      const auto gen = static_cast<std::uint32_t>(next_.load(std::memory_order_acquire) >> 32);
      // A successful claim means the run is still open, so task_ is that run's task.
      for (int share; (share = claim(gen)) >= 0;) {
        (*task_)(share);
        done_.fetch_add(1, std::memory_order_acq_rel);
      }
    }
  }

  const int size_;
  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::atomic<std::uint64_t> generation_{0};  // bumped per run (and at shutdown) to wake workers
  std::atomic<std::uint64_t> next_{0};        // claim word, see pack()
  std::atomic<int> done_{0};                  // shares finished by workers in this run
  std::uint32_t run_count_ = 0;               // caller side only
  FunctionRef<void(int)>* task_ = nullptr;
  std::atomic<bool> stop_{false};
};

}  // namespace earshot::rt
