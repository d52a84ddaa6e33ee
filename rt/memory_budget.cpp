#include "rt/memory_budget.hpp"

#include "rt/huge_pages.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <sstream>

namespace earshot::rt {

std::string format_bytes(std::size_t bytes) {
  char buf[64];
  const double b = static_cast<double>(bytes);
  if (bytes < 1024) {
    std::snprintf(buf, sizeof buf, "%zu B", bytes);
  } else if (bytes < (1u << 20)) {
    std::snprintf(buf, sizeof buf, "%.1f KiB", b / 1024.0);
  } else if (bytes < (1ull << 30)) {
    std::snprintf(buf, sizeof buf, "%.1f MiB", b / (1024.0 * 1024.0));
  } else {
    std::snprintf(buf, sizeof buf, "%.2f GiB", b / (1024.0 * 1024.0 * 1024.0));
  }
  return buf;
}

Reservation::Reservation(Reservation&& other) noexcept
    : owner_(other.owner_),
      name_(std::move(other.name_)),
      data_(other.data_),
      bytes_(other.bytes_) {
  other.owner_ = nullptr;
  other.data_ = nullptr;
  other.bytes_ = 0;
}

Reservation& Reservation::operator=(Reservation&& other) noexcept {
  if (this != &other) {
    reset();
    owner_ = other.owner_;
    name_ = std::move(other.name_);
    data_ = other.data_;
    bytes_ = other.bytes_;
    other.owner_ = nullptr;
    other.data_ = nullptr;
    other.bytes_ = 0;
  }
  return *this;
}

Reservation::~Reservation() {
  reset();
}

void Reservation::reset() {
  if (owner_ != nullptr && data_ != nullptr) owner_->release(name_, data_, bytes_);
  owner_ = nullptr;
  data_ = nullptr;
  bytes_ = 0;
}

MemoryBudget::MemoryBudget(std::size_t capacity_bytes) : capacity_(capacity_bytes) {}

MemoryBudget::~MemoryBudget() = default;

void MemoryBudget::throw_array_overflow(const std::string& name, std::size_t count,
                                        std::size_t element_bytes) {
  throw BudgetExceeded("memory budget exceeded reserving '" + name + "': " + std::to_string(count) +
                       " elements of " + std::to_string(element_bytes) +
                       " bytes do not fit in a size_t");
}

Reservation MemoryBudget::reserve(std::string name, std::size_t bytes, std::size_t alignment) {
  if (alignment == 0) alignment = 64;
  if ((alignment & (alignment - 1)) != 0)
    throw std::invalid_argument("reservation '" + name + "': alignment " +
                                std::to_string(alignment) + " is not a power of two");
  alignment = std::max<std::size_t>(alignment, 64);
  {
    std::lock_guard lock(mutex_);
    if (bytes > capacity_ - active_) {
      const std::size_t over = bytes - (capacity_ - active_);
      throw BudgetExceeded("memory budget exceeded reserving '" + name + "' (" +
                           format_bytes(bytes) + "):\n" +
                           table_locked({PlanItem{name, bytes}}, over));
    }
    active_ += bytes;
    peak_ = std::max(peak_, active_);
    auto& stats = names_[name];
    stats.active += bytes;
    stats.peak = std::max(stats.peak, stats.active);
    ++stats.count;
  }
  // Large blocks (weights, caches, workspaces) start on a 2 MiB boundary and ask for huge pages
  // before the zero fill first touches them: inference streams them at every step, and reads
  // them nearly twice as fast without a TLB miss every 4 KiB (rt/huge_pages.hpp).
  const bool huge = bytes >= kHugePageMinReservation;
  if (huge) alignment = std::max(alignment, kHugePageBytes);
  // Round the size up to the alignment, as aligned_alloc requires; at least one byte so that an
  // empty reservation still has a distinct, valid address.
  const std::size_t wanted = bytes == 0 ? 1 : bytes;
  const std::size_t rounded = wanted > static_cast<std::size_t>(-1) - alignment
                                  ? 0  // cannot be rounded: fail below as out of memory
                                  : (wanted + alignment - 1) / alignment * alignment;
  void* data = rounded == 0 ? nullptr : std::aligned_alloc(alignment, rounded);
  if (data == nullptr) {
    release(name, nullptr, bytes);
    throw std::bad_alloc();
  }
  // Only the whole huge pages the block itself covers: its last partial one stays in 4 KiB pages,
  // and the alignment padding past it is never touched, so nothing resident is wasted.
  if (huge) advise_huge_pages(data, wanted);
  std::memset(data, 0, huge ? std::min(rounded, (wanted + 63) / 64 * 64) : rounded);
  return Reservation(this, std::move(name), data, bytes);
}

void MemoryBudget::release(const std::string& name, void* data, std::size_t bytes) {
  std::free(data);
  std::lock_guard lock(mutex_);
  active_ -= bytes;
  auto it = names_.find(name);
  if (it != names_.end()) {
    it->second.active -= bytes;
    --it->second.count;
  }
}

void MemoryBudget::check_plan(const std::vector<PlanItem>& plan) const {
  std::size_t total = 0;
  for (const auto& item : plan) {
    // Saturate: a plan whose sum overflows certainly does not fit.
    total = item.bytes > static_cast<std::size_t>(-1) - total ? static_cast<std::size_t>(-1)
                                                              : total + item.bytes;
  }
  std::lock_guard lock(mutex_);
  if (total > capacity_ - active_) {
    const std::size_t over = total - (capacity_ - active_);
    throw BudgetExceeded("the plan does not fit the memory budget:\n" + table_locked(plan, over));
  }
}

std::size_t MemoryBudget::active() const {
  std::lock_guard lock(mutex_);
  return active_;
}

std::size_t MemoryBudget::peak() const {
  std::lock_guard lock(mutex_);
  return peak_;
}

std::size_t MemoryBudget::available() const {
  std::lock_guard lock(mutex_);
  return capacity_ - active_;
}

std::map<std::string, MemoryBudget::NameStats> MemoryBudget::by_name() const {
  std::lock_guard lock(mutex_);
  return names_;
}

std::string MemoryBudget::table_locked(const std::vector<PlanItem>& extra,
                                       std::size_t over_by) const {
  std::ostringstream out;
  char line[256];
  std::snprintf(line, sizeof line, "  %-44s %12s\n", "reservation", "bytes");
  out << line;
  for (const auto& [name, stats] : names_) {
    if (stats.active == 0) continue;
    if (stats.count > 1) {
      std::snprintf(line, sizeof line, "  %-44s %12s  (reserved, %zu blocks)\n", name.c_str(),
                    format_bytes(stats.active).c_str(), stats.count);
    } else {
      std::snprintf(line, sizeof line, "  %-44s %12s  (reserved)\n", name.c_str(),
                    format_bytes(stats.active).c_str());
    }
    out << line;
  }
  std::size_t wanted = 0;
  for (const auto& item : extra) {
    std::snprintf(line, sizeof line, "  %-44s %12s  (requested)\n", item.name.c_str(),
                  format_bytes(item.bytes).c_str());
    out << line;
    wanted = item.bytes > static_cast<std::size_t>(-1) - wanted ? static_cast<std::size_t>(-1)
                                                                : wanted + item.bytes;
  }
  std::snprintf(
      line, sizeof line, "  total %s of a %s budget: %s over.",
      format_bytes(wanted > static_cast<std::size_t>(-1) - active_ ? static_cast<std::size_t>(-1)
                                                                   : active_ + wanted)
          .c_str(),
      format_bytes(capacity_).c_str(), format_bytes(over_by).c_str());
  out << line;
  return out.str();
}

std::string MemoryBudget::report() const {
  std::lock_guard lock(mutex_);
  std::ostringstream out;
  char line[256];
  std::snprintf(line, sizeof line, "%-44s %12s %12s\n", "stage", "active", "peak");
  out << line;
  for (const auto& [name, stats] : names_) {
    std::snprintf(line, sizeof line, "%-44s %12s %12s\n", name.c_str(),
                  format_bytes(stats.active).c_str(), format_bytes(stats.peak).c_str());
    out << line;
  }
  std::snprintf(line, sizeof line, "%-44s %12s %12s  (budget %s)\n", "total",
                format_bytes(active_).c_str(), format_bytes(peak_).c_str(),
                format_bytes(capacity_).c_str());
  out << line;
  return out.str();
}

}  // namespace earshot::rt
