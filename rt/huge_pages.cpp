#include "rt/huge_pages.hpp"

#include <cstdint>
#include <cstdio>
#include <cstring>

#if defined(__linux__)
#include <sys/mman.h>
// Linux 6.1's synchronous collapse; older C libraries may not name it (the kernel ABI value; an
// older kernel answers EINVAL and nothing changes).
#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25
#endif
#endif

namespace earshot::rt {
namespace {

struct PageRange {
  std::uintptr_t first = 0, last = 0;  // whole huge pages: [first, last)
  bool empty() const { return last <= first; }
  void* start() const { return reinterpret_cast<void*>(first); }
  std::size_t length() const { return last - first; }
};

PageRange whole_huge_pages(const void* data, std::size_t bytes) {
  const auto begin = reinterpret_cast<std::uintptr_t>(data);
  PageRange r;
  if (data == nullptr || bytes < kHugePageBytes) return r;
  r.first = (begin + kHugePageBytes - 1) / kHugePageBytes * kHugePageBytes;
  r.last = (begin + bytes) / kHugePageBytes * kHugePageBytes;
  return r;
}

}  // namespace

std::size_t advise_huge_pages(void* data, std::size_t bytes) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  const PageRange r = whole_huge_pages(data, bytes);
  if (r.empty() || madvise(r.start(), r.length(), MADV_HUGEPAGE) != 0) return 0;
  return r.length();
#else
  (void)data;
  (void)bytes;
  return 0;
#endif
}

std::size_t collapse_huge_pages(const void* data, std::size_t bytes) {
  // The range must be advised first; the collapse then converts it now.
  const std::size_t advised = advise_huge_pages(const_cast<void*>(data), bytes);
#if defined(__linux__)
  if (advised == 0) return 0;
  const PageRange r = whole_huge_pages(data, bytes);
  return madvise(r.start(), r.length(), MADV_COLLAPSE) == 0 ? advised : 0;
#else
  return advised;
#endif
}

std::size_t huge_page_bytes_in(const void* data, std::size_t bytes) {
#if defined(__linux__)
  std::FILE* smaps = std::fopen("/proc/self/smaps", "r");
  if (smaps == nullptr) return 0;
  const auto begin = reinterpret_cast<std::uintptr_t>(data), end = begin + bytes;
  std::size_t total = 0;
  bool inside = false;
  char line[512];
  while (std::fgets(line, sizeof line, smaps) != nullptr) {
    unsigned long lo = 0, hi = 0;
    // A mapping's header line: "lo-hi perms offset dev inode path".
    if (std::sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && std::strchr(line, '-') != nullptr &&
        std::strncmp(line, "AnonHugePages", 13) != 0) {
      inside = lo < end && hi > begin;
      continue;
    }
    unsigned long kb = 0;
    if (inside && std::sscanf(line, "AnonHugePages: %lu kB", &kb) == 1) total += kb * 1024;
  }
  std::fclose(smaps);
  return total;
#else
  (void)data;
  (void)bytes;
  return 0;
#endif
}

}  // namespace earshot::rt
