#include "rt/default_budget.hpp"

#include <unistd.h>

namespace earshot::rt {

std::size_t default_budget_bytes(double fraction) {
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
  if (pages <= 0 || page <= 0) return std::size_t{4} << 30;
  return static_cast<std::size_t>(static_cast<double>(pages) * static_cast<double>(page) *
                                  fraction);
}

}  // namespace earshot::rt
