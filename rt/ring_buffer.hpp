// Wait-free single-producer / single-consumer ring buffer for audio samples.
//
// Invariants (the whole correctness argument, kept next to the code):
// - `write_index_` is written only by the producer, `read_index_` only by the consumer.
// - Both are free-running counters; `write - read` is the fill level and never exceeds capacity.
//   Unsigned wrap-around of the counters is harmless because capacity is a power of two.
// - The producer publishes samples with a release store of `write_index_` after copying them;
//   the consumer reads them only after an acquire load of `write_index_` (and symmetrically for
//   freeing space). So a sample is never read before it is written, nor overwritten before read.
// - Each side keeps a private, possibly stale copy of the other side's index (`cached_read_`,
//   `cached_write_`). A stale copy only ever under-estimates what is available (the other index
//   only grows), so it is safe; the shared index is re-loaded only when the copy says "not
//   enough". This keeps the other side's cache line from bouncing on every call.
// - Storage is allocated once, in the constructor (outside the audio thread); no member function
//   allocates, locks or waits.
//
// Two ways to move samples:
// - copy: write()/read()/peek()/skip(), bounded by what fits;
// - zero-copy: write_regions()/commit_write() and read_regions()/commit_read() hand out the
//   (at most two, because of the wrap) contiguous spans of the storage, for callers that want to
//   produce or consume in place (see rt/interleave.hpp).
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

// A view of ring storage that may wrap: `first` then `second` (often empty).
template <typename T>
struct RingRegions {
  std::span<T> first;
  std::span<T> second;
  std::size_t size() const { return first.size() + second.size(); }
  // Element i of the logical sequence first ++ second.
  T& operator[](std::size_t i) const {
    return i < first.size() ? first[i] : second[i - first.size()];
  }
  // The first n elements (n <= size()).
  RingRegions prefix(std::size_t n) const {
    const std::size_t head = std::min(n, first.size());
    return {first.first(head), second.first(n - head)};
  }
};

template <typename T>
class SpscRing {
  static_assert(std::is_trivially_copyable_v<T>, "ring elements are copied with memcpy");

 public:
  using value_type = T;

  // Capacity is rounded up to a power of two (at least 2). Allocates: call before audio
  // starts, or construct over storage reserved from a MemoryBudget with the (T*, capacity)
  // constructor.
  explicit SpscRing(std::size_t min_capacity)
      : capacity_(checked_capacity(min_capacity)),
        mask_(capacity_ - 1),
        owned_(new T[capacity_]()),
        data_(owned_.get()) {}

  // Wraps preallocated storage; `capacity` must be a power of two >= 2.
  SpscRing(T* storage, std::size_t capacity)
      : capacity_(capacity), mask_(capacity - 1), data_(storage) {
    if (capacity < 2 || (capacity & (capacity - 1)) != 0)
      throw std::invalid_argument("SpscRing capacity must be a power of two >= 2");
    if (storage == nullptr) throw std::invalid_argument("SpscRing storage is null");
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

  // --- producer side ---

  // Copies up to src.size() samples; returns how many were written.
  std::size_t write(std::span<const T> src) {
    const std::size_t w = write_index_.load(std::memory_order_relaxed);
    const std::size_t n = std::min(src.size(), free_for_producer(w, src.size()));
    copy_in(w, src.data(), n);
    write_index_.store(w + n, std::memory_order_release);
    return n;
  }

  // Writes one sample if there is room.
  bool push(const T& value) { return write(std::span<const T>(&value, 1)) == 1; }

  // The free space (up to `max` samples) as at most two contiguous spans, to fill in place and
  // then publish with commit_write(). Nothing is visible to the consumer before the commit.
  RingRegions<T> write_regions(std::size_t max) {
    const std::size_t w = write_index_.load(std::memory_order_relaxed);
    return regions(w, std::min(max, free_for_producer(w, max)));
  }
  // Publishes `n` samples written into the spans of the last write_regions() (n <= its size).
  void commit_write(std::size_t n) {
    const std::size_t w = write_index_.load(std::memory_order_relaxed);
    assert(n <= capacity_ - (w - read_index_.load(std::memory_order_acquire)));
    write_index_.store(w + n, std::memory_order_release);
  }

  // --- consumer side ---

  // Copies up to dst.size() samples out; returns how many were read.
  std::size_t read(std::span<T> dst) {
    const std::size_t r = read_index_.load(std::memory_order_relaxed);
    const std::size_t n = std::min(dst.size(), filled_for_consumer(r, dst.size()));
    copy_out(r, dst.data(), n);
    read_index_.store(r + n, std::memory_order_release);
    return n;
  }

  // Reads one sample if there is one.
  bool pop(T& value) { return read(std::span<T>(&value, 1)) == 1; }

  // Copies without consuming (for sliding windows that overlap).
  std::size_t peek(std::span<T> dst) const {
    const std::size_t r = read_index_.load(std::memory_order_relaxed);
    const std::size_t n = std::min(dst.size(), filled_for_consumer(r, dst.size()));
    copy_out(r, dst.data(), n);
    return n;
  }

  // Drops up to n samples; returns how many were dropped.
  std::size_t skip(std::size_t n) {
    const std::size_t r = read_index_.load(std::memory_order_relaxed);
    n = std::min(n, filled_for_consumer(r, n));
    read_index_.store(r + n, std::memory_order_release);
    return n;
  }

  // The readable samples (up to `max`) as at most two contiguous spans, to read in place and
  // then release with commit_read(). The producer cannot overwrite them before the commit.
  RingRegions<const T> read_regions(std::size_t max) const {
    const std::size_t r = read_index_.load(std::memory_order_relaxed);
    const RingRegions<T> parts = regions(r, std::min(max, filled_for_consumer(r, max)));
    return {parts.first, parts.second};
  }
  // Releases `n` samples of the last read_regions() (n <= its size).
  void commit_read(std::size_t n) {
    const std::size_t r = read_index_.load(std::memory_order_relaxed);
    assert(n <= write_index_.load(std::memory_order_acquire) - r);
    read_index_.store(r + n, std::memory_order_release);
  }

 private:
  static std::size_t checked_capacity(std::size_t min_capacity) {
    if (min_capacity > (std::size_t{1} << (sizeof(std::size_t) * 8 - 2)))
      throw std::length_error("SpscRing capacity too large");
    return next_power_of_two(std::max<std::size_t>(min_capacity, 2));
  }

  // Free space seen by the producer, re-reading the consumer's index only if the cached copy
  // does not already show `wanted` free samples.
  std::size_t free_for_producer(std::size_t w, std::size_t wanted) {
    std::size_t free = capacity_ - (w - cached_read_);
    if (free < wanted) {
      cached_read_ = read_index_.load(std::memory_order_acquire);
      free = capacity_ - (w - cached_read_);
    }
    return free;
  }
  // Filled samples seen by the consumer, symmetric to free_for_producer().
  std::size_t filled_for_consumer(std::size_t r, std::size_t wanted) const {
    std::size_t filled = cached_write_ - r;
    if (filled < wanted) {
      cached_write_ = write_index_.load(std::memory_order_acquire);
      filled = cached_write_ - r;
    }
    return filled;
  }

  RingRegions<T> regions(std::size_t index, std::size_t n) const {
    const std::size_t start = index & mask_;
    const std::size_t first = std::min(n, capacity_ - start);
    return {std::span<T>(data_ + start, first), std::span<T>(data_, n - first)};
  }

  void copy_in(std::size_t index, const T* src, std::size_t n) {
    if (n == 0) return;  // src may be null for an empty span; memcpy(null, 0) is UB
    const std::size_t start = index & mask_;
    const std::size_t first = std::min(n, capacity_ - start);
    std::memcpy(data_ + start, src, first * sizeof(T));
    if (n > first) std::memcpy(data_, src + first, (n - first) * sizeof(T));
  }
  void copy_out(std::size_t index, T* dst, std::size_t n) const {
    if (n == 0) return;
    const std::size_t start = index & mask_;
    const std::size_t first = std::min(n, capacity_ - start);
    std::memcpy(dst, data_ + start, first * sizeof(T));
    if (n > first) std::memcpy(dst + first, data_, (n - first) * sizeof(T));
  }

  const std::size_t capacity_;
  const std::size_t mask_;
  std::unique_ptr<T[]> owned_;
  T* const data_;
  // Each side's index and its private copy of the other side's index share one cache line,
  // owned by that side, so producer and consumer do not false-share.
  alignas(kCacheLine) std::atomic<std::size_t> write_index_{0};
  std::size_t cached_read_ = 0;  // producer only
  alignas(kCacheLine) std::atomic<std::size_t> read_index_{0};
  mutable std::size_t cached_write_ = 0;  // consumer only (peek() is const)
  // alignas makes sizeof a multiple of the line, so whatever follows is off the consumer's line.
};

}  // namespace earshot::rt
