#include "models/encodec/huge_pages.hpp"

#include <algorithm>
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
  if (data == nullptr || bytes == 0) return 0;
  const auto begin = reinterpret_cast<std::uintptr_t>(data);
  const auto end = begin + bytes;
  std::size_t backed = 0;
  // Every 2 MiB page the range touches, including the partly covered first and last ones: a
  // large allocation is its own mapping that starts a few bytes before the data, so the page
  // holding the data's first bytes usually lies wholly inside it (the kernel refuses a page that
  // does not, and that page simply stays as it is). Collapsing a page also holding other heap
  // data keeps that data as it is.
  for (std::uintptr_t page = begin / kHuge * kHuge; page < end; page += kHuge) {
    void* p = reinterpret_cast<void*>(page);
    if (madvise(p, kHuge, MADV_HUGEPAGE) != 0) continue;
    // The pages are already written: convert them now rather than whenever khugepaged gets
    // there.
    if (madvise(p, kHuge, MADV_COLLAPSE) != 0) continue;
    backed += std::min<std::uintptr_t>(end, page + kHuge) - std::max(begin, page);
  }
  return backed;
#else
  (void)data;
  (void)bytes;
  return 0;
#endif
}

}  // namespace earshot::encodec
