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

// A fixed team of threads created once. run() publishes the task, wakes the workers (they spin
// briefly, then sleep on a condition variable) and does worker 0's share itself.
class ThreadTeam final : public Parallel {
 public:
  explicit ThreadTeam(int threads) : size_(threads < 1 ? 1 : threads) {
    for (int i = 1; i < size_; ++i) workers_.emplace_back([this, i] { loop(i); });
  }
  ~ThreadTeam() override {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
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
    task_ = &fn;
    pending_.store(size_ - 1, std::memory_order_relaxed);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      generation_.fetch_add(1, std::memory_order_release);
    }
    wake_.notify_all();
    fn(0);
    while (pending_.load(std::memory_order_acquire) != 0) std::this_thread::yield();
    task_ = nullptr;
  }

 private:
  void loop(int index) {
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
      if (stop_) return;
      (*task_)(index);
      pending_.fetch_sub(1, std::memory_order_acq_rel);
    }
  }

  const int size_;
  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::atomic<std::uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  FunctionRef<void(int)>* task_ = nullptr;
  bool stop_ = false;
};

}  // namespace earshot::rt
