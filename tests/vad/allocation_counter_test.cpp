// Replacement global operator new/delete that count allocations per thread (see
// allocation_counter.hpp), plus a check that the counter itself works.
#include "tests/vad/allocation_counter.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <new>
#include <vector>

namespace {
thread_local std::size_t g_allocations = 0;

void* counted_alloc(std::size_t size) {
  ++g_allocations;
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
}  // namespace

void* operator new(std::size_t size) {
  return counted_alloc(size);
}
void* operator new[](std::size_t size) {
  return counted_alloc(size);
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete[](void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::size_t) noexcept {
  std::free(p);
}

namespace earshot::test::vad {

std::size_t allocations_on_this_thread() {
  return g_allocations;
}

TEST(AllocationCounter, CountsAllocations) {
  AllocationGuard guard;
  auto* v = new std::vector<int>(100);
  delete v;
  EXPECT_GE(guard.count(), 2u);
}

}  // namespace earshot::test::vad
