// Wait-free single-producer / single-consumer ring buffer for audio samples.
//
// Invariants (the whole correctness argument, kept next to the code):
// - `write_index_` is written only by the producer, `read_index_` only by the consumer.
// - Both are free-running counters; `write - read` is the fill level and never exceeds capacity.
//   Unsigned wrap-around of the counters is harmless because capacity is a power of two.
// - The producer publishes samples with a release store of `write_index_` after copying them;
//   the consumer reads them only after an acquire load of `write_index_` (and symmetrically for
//   freeing space). So a sample is never read before it is written, nor overwritten before read.
// - Storage is allocated once, in the constructor (outside the audio thread); no member function
//   allocates, locks or waits.
#pragma once

#include <algorithm>
#include <atomic>
#include <cassert>
#include <cstddef>
#include <cstring>
#include <memory>
#include <new>
#include <span>
#include <stdexcept>
#include <type_traits>

namespace earshot::rt {

inline constexpr std::size_t kCacheLine = 64;

constexpr std::size_t next_power_of_two(std::size_t n) {
  std::size_t p = 1;
  while (p < n) p <<= 1;
  return p;
}

template <typename T>
class SpscRing {
  static_assert(std::is_trivially_copyable_v<T>, "ring elements are copied with memcpy");

 public:
  // Capacity is rounded up to a power of two. Allocates: call before audio starts, or construct
  // over storage reserved from a MemoryBudget with the (T*, capacity) constructor.
  explicit SpscRing(std::size_t min_capacity)
      : capacity_(next_power_of_two(std::max<std::size_t>(min_capacity, 2))),
        mask_(capacity_ - 1),
        owned_(new T[capacity_]()),
        data_(owned_.get()) {}

  // Wraps preallocated storage; `capacity` must be a power of two.
  SpscRing(T* storage, std::size_t capacity)
      : capacity_(capacity), mask_(capacity - 1), data_(storage) {
    if (capacity < 2 || (capacity & (capacity - 1)) != 0)
      throw std::invalid_argument("SpscRing capacity must be a power of two >= 2");
  }

  SpscRing(const SpscRing&) = delete;
  SpscRing& operator=(const SpscRing&) = delete;

  std::size_t capacity() const { return capacity_; }

  // Samples available to the consumer (exact when called by the consumer).
  std::size_t read_available() const {
    return write_index_.load(std::memory_order_acquire) -
           read_index_.load(std::memory_order_relaxed);
  }
  // Free space for the producer (exact when called by the producer).
  std::size_t write_available() const {
    return capacity_ - (write_index_.load(std::memory_order_relaxed) -
                        read_index_.load(std::memory_order_acquire));
  }

  // Producer: copies up to src.size() samples; returns how many were written.
  std::size_t write(std::span<const T> src) {
    const std::size_t w = write_index_.load(std::memory_order_relaxed);
    const std::size_t r = read_index_.load(std::memory_order_acquire);
    const std::size_t n = std::min(src.size(), capacity_ - (w - r));
    copy_in(w, src.data(), n);
    write_index_.store(w + n, std::memory_order_release);
    return n;
  }

  // Consumer: copies up to dst.size() samples out; returns how many were read.
  std::size_t read(std::span<T> dst) {
    const std::size_t r = read_index_.load(std::memory_order_relaxed);
    const std::size_t w = write_index_.load(std::memory_order_acquire);
    const std::size_t n = std::min(dst.size(), w - r);
    copy_out(r, dst.data(), n);
    read_index_.store(r + n, std::memory_order_release);
    return n;
  }

  // Consumer: copies without consuming (for sliding windows that overlap).
  std::size_t peek(std::span<T> dst) const {
    const std::size_t r = read_index_.load(std::memory_order_relaxed);
    const std::size_t w = write_index_.load(std::memory_order_acquire);
    const std::size_t n = std::min(dst.size(), w - r);
    copy_out(r, dst.data(), n);
    return n;
  }

  // Consumer: drops up to n samples; returns how many were dropped.
  std::size_t skip(std::size_t n) {
    const std::size_t r = read_index_.load(std::memory_order_relaxed);
    const std::size_t w = write_index_.load(std::memory_order_acquire);
    n = std::min(n, w - r);
    read_index_.store(r + n, std::memory_order_release);
    return n;
  }

 private:
  void copy_in(std::size_t index, const T* src, std::size_t n) {
    const std::size_t start = index & mask_;
    const std::size_t first = std::min(n, capacity_ - start);
    std::memcpy(data_ + start, src, first * sizeof(T));
    std::memcpy(data_, src + first, (n - first) * sizeof(T));
  }
  void copy_out(std::size_t index, T* dst, std::size_t n) const {
    const std::size_t start = index & mask_;
    const std::size_t first = std::min(n, capacity_ - start);
    std::memcpy(dst, data_ + start, first * sizeof(T));
    std::memcpy(dst + first, data_, (n - first) * sizeof(T));
  }

  const std::size_t capacity_;
  const std::size_t mask_;
  std::unique_ptr<T[]> owned_;
  T* const data_;
  // Each index on its own cache line so producer and consumer do not false-share.
  alignas(kCacheLine) std::atomic<std::size_t> write_index_{0};
  alignas(kCacheLine) std::atomic<std::size_t> read_index_{0};
};

}  // namespace earshot::rt
