// Large reservations are laid out for 2 MiB pages (rt/huge_pages.hpp): aligned, zeroed, and,
// where the kernel's transparent huge pages allow it, backed by huge pages from the first touch.
#include "rt/huge_pages.hpp"
#include "rt/memory_budget.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <fstream>
#include <string>

namespace earshot::rt {
namespace {

// The kernel's policy: "[always] madvise never" marks the active one.
std::string transparent_huge_page_mode() {
  std::ifstream f("/sys/kernel/mm/transparent_hugepage/enabled");
  std::string line;
  std::getline(f, line);
  const auto open = line.find('['), close = line.find(']');
  return open == std::string::npos || close == std::string::npos
             ? "unavailable"
             : line.substr(open + 1, close - open - 1);
}

TEST(HugePages, LargeReservationsAreAlignedToHugePagesAndZeroed) {
  MemoryBudget budget(64u << 20);
  const std::size_t bytes = (9u << 20) + 12345;  // not a whole number of pages
  Reservation r = budget.reserve("weights", bytes);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(r.data()) % kHugePageBytes, 0u);
  const auto* p = static_cast<const unsigned char*>(r.data());
  std::size_t nonzero = 0;
  for (std::size_t i = 0; i < bytes; ++i) nonzero += p[i] != 0;
  EXPECT_EQ(nonzero, 0u);
  EXPECT_EQ(budget.active(), bytes);  // the budget counts what was asked, not the alignment

  // Small reservations keep the ordinary alignment (no 2 MiB padding for a ring buffer).
  Reservation small = budget.reserve("ring", 4096);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(small.data()) % 64, 0u);
}

TEST(HugePages, LargeReservationsAreBackedByHugePagesWhereTheKernelAllows) {
  const std::string mode = transparent_huge_page_mode();
  MemoryBudget budget(64u << 20);
  const std::size_t bytes = 16u << 20;
  Reservation r = budget.reserve("weights", bytes);
  const std::size_t huge = huge_page_bytes_in(r.data(), bytes);
  std::printf("transparent huge pages: %s; %zu of %zu bytes in huge pages\n", mode.c_str(), huge,
              bytes);
  if (mode == "always" || mode == "madvise") {
    // Best effort by design (the kernel may lack free 2 MiB blocks), but on a machine with
    // memory to spare most of the block must be huge.
    EXPECT_GE(huge, bytes / 2);
  } else {
    EXPECT_EQ(huge, 0u);
  }
}

TEST(HugePages, AdviceCoversOnlyWholeHugePagesInside) {
  EXPECT_EQ(advise_huge_pages(nullptr, 8u << 20), 0u);
  alignas(64) static unsigned char small[4096];
  EXPECT_EQ(advise_huge_pages(small, sizeof small), 0u);  // no whole huge page inside
}

}  // namespace
}  // namespace earshot::rt
