#include "models/encodec/huge_pages.hpp"

#include <cstdint>

#if defined(__linux__)
#include <sys/mman.h>
// Linux 6.1's synchronous collapse; glibc's <sys/mman.h> may not name it yet (the kernel ABI
// value; an older kernel answers EINVAL and nothing changes).
#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25
#endif
#endif

namespace earshot::encodec {

std::size_t prefer_huge_pages(const void* data, std::size_t bytes) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  constexpr std::uintptr_t kHuge = std::uintptr_t{2} << 20;
  const auto begin = reinterpret_cast<std::uintptr_t>(data);
  const std::uintptr_t first = (begin + kHuge - 1) / kHuge * kHuge;
  const std::uintptr_t last = (begin + bytes) / kHuge * kHuge;
  if (data == nullptr || last <= first) return 0;
  void* region = reinterpret_cast<void*>(first);
  const std::size_t length = last - first;
  if (madvise(region, length, MADV_HUGEPAGE) != 0) return 0;
  // The pages are already written: convert them now rather than whenever khugepaged gets there.
  if (madvise(region, length, MADV_COLLAPSE) != 0) return 0;
  return length;
#else
  (void)data;
  (void)bytes;
  return 0;
#endif
}

}  // namespace earshot::encodec
