// The memory budget: one byte budget per run, handing out named, aligned reservations.
//
// Everything a run needs (weights, KV caches, activation workspaces, ring buffers) is reserved
// here before audio flows. A plan that does not fit is refused with a table of every
// reservation and how far over the budget it goes, so the user can pick a smaller chunk, a
// quantized model or a smaller variant. Reserving and releasing take a mutex: they are for
// start-up and worker threads, never the audio thread.
#pragma once

#include <cstddef>
#include <map>
#include <mutex>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace earshot::rt {

class MemoryBudget;

// Thrown when a reservation or plan does not fit; what() holds the full table.
class BudgetExceeded : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A block of budgeted memory. Move-only; returns its bytes to the budget when destroyed.
// The memory is zero-initialised and aligned as requested.
class Reservation {
 public:
  Reservation() = default;
  Reservation(Reservation&& other) noexcept;
  Reservation& operator=(Reservation&& other) noexcept;
  Reservation(const Reservation&) = delete;
  Reservation& operator=(const Reservation&) = delete;
  ~Reservation();

  void* data() const { return data_; }
  std::size_t bytes() const { return bytes_; }
  const std::string& name() const { return name_; }
  bool empty() const { return data_ == nullptr; }

  // Views the block as an array of T (bytes must be a multiple of sizeof(T)).
  template <typename T>
  std::span<T> as() const {
    return {static_cast<T*>(data_), bytes_ / sizeof(T)};
  }

  void reset();

 private:
  friend class MemoryBudget;
  Reservation(MemoryBudget* owner, std::string name, void* data, std::size_t bytes)
      : owner_(owner), name_(std::move(name)), data_(data), bytes_(bytes) {}

  MemoryBudget* owner_ = nullptr;
  std::string name_;
  void* data_ = nullptr;
  std::size_t bytes_ = 0;
};

// One planned reservation: used to check a whole plan before reserving any of it.
struct PlanItem {
  std::string name;
  std::size_t bytes = 0;
};

class MemoryBudget {
 public:
  explicit MemoryBudget(std::size_t capacity_bytes);
  MemoryBudget(const MemoryBudget&) = delete;
  MemoryBudget& operator=(const MemoryBudget&) = delete;
  // Reservations must not outlive their budget.
  ~MemoryBudget();

  // Reserves `bytes` under `name` (names may repeat; figures are summed per name).
  // `alignment` must be a power of two (0 means the default); anything below 64 is raised to
  // 64, a cache line, so reservations never false-share. The memory is zeroed, which also
  // touches every page now rather than on first use by a worker.
  // Throws BudgetExceeded (with the table of active reservations) if it does not fit, and
  // std::invalid_argument for a bad alignment.
  Reservation reserve(std::string name, std::size_t bytes, std::size_t alignment = 64);

  // Reserves an array of `count` T (throws BudgetExceeded if count * sizeof(T) overflows).
  template <typename T>
  Reservation reserve_array(std::string name, std::size_t count) {
    if (count > static_cast<std::size_t>(-1) / sizeof(T))
      throw_array_overflow(name, count, sizeof(T));
    return reserve(std::move(name), count * sizeof(T), alignof(T) > 64 ? alignof(T) : 64);
  }

  // Throws BudgetExceeded listing every item of `plan` (plus what is already active) if the
  // plan's total does not fit in what is free now. Reserves nothing. Use it to refuse a whole
  // configuration up front, with one message, before any of it is loaded.
  void check_plan(const std::vector<PlanItem>& plan) const;

  std::size_t capacity() const { return capacity_; }
  std::size_t active() const;
  std::size_t peak() const;
  std::size_t available() const;

  struct NameStats {
    std::size_t active = 0;
    std::size_t peak = 0;
    std::size_t count = 0;
  };
  // Active and peak bytes per reservation name.
  std::map<std::string, NameStats> by_name() const;

  // A human-readable table: one row per name (active, peak), then totals and the capacity.
  std::string report() const;

 private:
  friend class Reservation;
  void release(const std::string& name, void* data, std::size_t bytes);
  [[noreturn]] static void throw_array_overflow(const std::string& name, std::size_t count,
                                                std::size_t element_bytes);
  std::string table_locked(const std::vector<PlanItem>& extra, std::size_t over_by) const;

  const std::size_t capacity_;
  mutable std::mutex mutex_;
  std::size_t active_ = 0;
  std::size_t peak_ = 0;
  std::map<std::string, NameStats> names_;
};

// Formats a byte count as "12.3 MiB" for messages.
std::string format_bytes(std::size_t bytes);

}  // namespace earshot::rt
