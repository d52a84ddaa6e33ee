// Counts global operator new calls made by the current thread while a guard is alive, to prove
// that real-time paths allocate nothing. The replacement operators live in
// allocation_counter.cpp (one definition for the whole test executable).
#pragma once

#include <cstddef>

namespace earshot::test::vad {

std::size_t allocations_on_this_thread();

// Usage: AllocationGuard g; ...; EXPECT_EQ(g.count(), 0u);
class AllocationGuard {
 public:
  AllocationGuard() : start_(allocations_on_this_thread()) {}
  std::size_t count() const { return allocations_on_this_thread() - start_; }

 private:
  std::size_t start_;
};

}  // namespace earshot::test::vad
