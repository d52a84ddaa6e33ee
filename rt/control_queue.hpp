// Preallocated single-producer / single-consumer message queues between threads: parameter
// changes into the audio or worker threads (control), events and stats out of them (results).
//
// A thin wrapper over moodycamel::ReaderWriterQueue (lock-free, one producer, one consumer).
// The underlying queue's `enqueue()` allocates a new block when full; this wrapper does not
// expose it. Every slot is allocated in the constructor, so:
// - try_enqueue() fails (returns false) when full instead of allocating;
// - try_dequeue()/peek()/pop() never allocate or free.
// Both are wait-free and never lock, so either end may be the audio thread, provided T's copy
// or move does not allocate (use trivially copyable messages on the audio side: a struct of
// numbers, not a std::string). Construct and destroy outside the audio thread.
#pragma once

#include <cstddef>
#include <utility>

// GCC (before 14) has no __has_feature, so readerwriterqueue cannot see ThreadSanitizer and
// leaves its standalone fences unannotated; TSan does not model standalone fences and would
// report false races. Give it the same happens-before annotations it uses under clang.
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define EARSHOT_RWQ_TSAN_HANDLED_BY_HEADER 1
#endif
#endif
#if defined(__SANITIZE_THREAD__) && !defined(EARSHOT_RWQ_TSAN_HANDLED_BY_HEADER) && \
    !defined(AE_TSAN_ANNOTATE_RELEASE)
namespace moodycamel {
inline int ae_tsan_global;
}
extern "C" void AnnotateHappensBefore(const char*, int, void*);
extern "C" void AnnotateHappensAfter(const char*, int, void*);
#define AE_TSAN_ANNOTATE_RELEASE() \
  AnnotateHappensBefore(__FILE__, __LINE__, (void*)(&::moodycamel::ae_tsan_global))
#define AE_TSAN_ANNOTATE_ACQUIRE() \
  AnnotateHappensAfter(__FILE__, __LINE__, (void*)(&::moodycamel::ae_tsan_global))
#endif

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpragmas"
#pragma GCC diagnostic ignored "-Wtsan"  // the fences above are annotated instead
#endif
#include <readerwriterqueue/readerwriterqueue.h>
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

namespace earshot::rt {

template <typename T>
class ControlQueue {
 public:
  using value_type = T;

  // Allocates room for at least `min_capacity` messages (the underlying blocks may round up;
  // capacity() is the exact figure). Call before audio starts.
  explicit ControlQueue(std::size_t min_capacity)
      : queue_(min_capacity), capacity_(queue_.max_capacity()) {}

  ControlQueue(const ControlQueue&) = delete;
  ControlQueue& operator=(const ControlQueue&) = delete;

  // How many messages fit in an empty queue before try_enqueue() starts refusing. The queue is
  // a chain of blocks: once it has been full, room comes back a block at a time, so size the
  // queue for the worst burst rather than relying on the consumer freeing single slots.
  std::size_t capacity() const { return capacity_; }

  // --- producer side ---

  // Enqueues a copy / the moved value; false (and nothing enqueued) when full.
  bool try_enqueue(const T& message) { return queue_.try_enqueue(message); }
  bool try_enqueue(T&& message) { return queue_.try_enqueue(std::move(message)); }
  // Constructs the message in place; false when full.
  template <typename... Args>
  bool try_emplace(Args&&... args) {
    return queue_.try_emplace(std::forward<Args>(args)...);
  }

  // --- consumer side ---

  // Moves the oldest message into `out`; false when empty (`out` untouched).
  bool try_dequeue(T& out) { return queue_.try_dequeue(out); }
  // The oldest message without removing it, or nullptr when empty.
  T* peek() const { return queue_.peek(); }
  // Removes the oldest message; false when empty.
  bool pop() { return queue_.pop(); }

  // Either side: a snapshot of the fill level (exact only when the other side is idle).
  std::size_t size_approx() const { return queue_.size_approx(); }

 private:
  moodycamel::ReaderWriterQueue<T> queue_;
  std::size_t capacity_;
};

// Same queue, named for the direction it usually carries (workers -> control/output thread).
template <typename T>
using ResultQueue = ControlQueue<T>;

}  // namespace earshot::rt
